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
