"""`pitstop materialize`: pitstop's materializer by default, Feast's with --with-feast."""

from __future__ import annotations

import pytest

from pitstop.cli import main
from tests.materialize.conftest import ITEMS, USERS, Folder


def _written(out: str) -> dict[str, int]:
    """``{view: entities}`` from the summary lines ``  <view>   <count> entities written``."""
    lines = [line.split() for line in out.splitlines() if line.endswith("entities written")]
    return {words[0]: int(words[1].replace(",", "")) for words in lines}


def test_materialize_prints_a_summary_then_writes_nothing_new(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = folder("cli")
    data = ["--data-dir", str(settings.data_dir)]
    assert main(["materialize", *data, "--batch-rows", "500"]) == 0
    out, err = capsys.readouterr()
    assert _written(out) == {
        "user_activity": USERS,
        "user_profile": USERS,
        "item_popularity": ITEMS,
    }
    assert "(pitstop, full," in out and "entities/s" in out and "peak memory" in out
    assert "materialize user_activity: 100%" in err  # the progress line, on stderr

    assert main(["materialize", *data, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert set(_written(out).values()) == {0} and not err


def test_with_feast_uses_feast(folder: Folder, capsys: pytest.CaptureFixture[str]) -> None:
    settings = folder("cli-feast")
    assert main(["materialize", "--data-dir", str(settings.data_dir), "--with-feast", "-q"]) == 0
    out, _ = capsys.readouterr()
    assert "(feast, peak memory" in out
    assert (
        main(["materialize", "--data-dir", str(settings.data_dir), "--with-feast", "--full"]) == 2
    )


@pytest.mark.parametrize("port", [6379, 1], ids=["wrong-password", "no-server"])
def test_the_redis_password_stays_out_of_the_error(
    folder: Folder,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    port: int,
) -> None:
    """The API masked it; `pitstop materialize` printed the URL as given (the real Redis
    here, refusing a wrong password, and a port with no server)."""
    settings = folder(f"redis-secret-{port}")
    monkeypatch.setenv("PITSTOP_ONLINE_STORE", "redis")
    monkeypatch.setenv("PITSTOP_REDIS_URL", f"redis://reader:hunter2@127.0.0.1:{port}/0")
    assert main(["materialize", "--data-dir", str(settings.data_dir), "-q"]) != 0
    err = capsys.readouterr().err
    assert f"redis://***@127.0.0.1:{port}/0" in err, err
    assert "hunter2" not in err and "reader" not in err
    assert err.count("\n") == 1
