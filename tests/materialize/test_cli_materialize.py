"""`pitstop materialize`: pitstop's materializer by default, Feast's with --with-feast."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis

from pitstop.cli import main
from pitstop.settings import Settings
from tests import machine, redis_cluster
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


def test_the_redis_password_stays_out_of_the_summary(
    folder: Folder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that succeeded printed `into redis://default:<password>@...` (the real Redis
    here takes any password for its default user, which has none)."""
    settings = folder("redis-secret-summary")
    monkeypatch.setenv("PITSTOP_ONLINE_STORE", "redis")
    monkeypatch.setenv("PITSTOP_REDIS_URL", "redis://default:hunter2@127.0.0.1:6379/13")
    assert main(["materialize", "--data-dir", str(settings.data_dir), "-q"]) == 0
    out, err = capsys.readouterr()
    assert "into redis://***@127.0.0.1:6379/13 in" in out, out
    assert "hunter2" not in out + err


def test_a_read_only_data_folder_is_one_line(
    applied_template: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a stack trace (PermissionError; SQLite's own error where the folder allowed
    the file but not its writes)."""
    size = machine.folder_bytes(applied_template.data_dir) + 64 * 2**20
    with machine.tmpfs(tmp_path / "ro", size_bytes=size) as data:
        machine.copy_into(applied_template.data_dir, data)
        machine.read_only(data)
        code = main(["materialize", "--data-dir", str(data), "-q"])
        err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("pitstop materialize: ") and "the file system is read-only" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_full_disk_is_one_line(
    applied_template: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The data folder fits, the online store does not: SQLite's "database or disk is full"
    came out as a stack trace. Nothing is recorded as materialized, so the next run, with
    space, writes every entity."""
    size = machine.folder_bytes(applied_template.data_dir) + 256 * 2**10
    with machine.tmpfs(tmp_path / "full", size_bytes=size) as data:
        machine.copy_into(applied_template.data_dir, data)
        code = main(["materialize", "--data-dir", str(data), "-q"])
        err = capsys.readouterr().err
        assert code == 1, err
        assert err.startswith("pitstop materialize: ") and "free some space" in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
        roomy = tmp_path / "roomy"
        machine.copy_into(data, roomy)
    assert main(["materialize", "--data-dir", str(roomy), "-q"]) == 0
    assert sum(_written(capsys.readouterr().out).values()) == 2 * USERS + ITEMS


def test_redis_gone_during_materialize_is_one_line(
    folder: Folder,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Redis server of its own, with a password, killed while the batches are written."""
    (port,) = redis_cluster.free_ports(1)
    server = subprocess.Popen(
        [redis_cluster.tool("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
        + ["--requirepass", "hunter2", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, password="hunter2")
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        settings = folder("redis-gone")
        monkeypatch.setenv("PITSTOP_ONLINE_STORE", "redis")
        monkeypatch.setenv("PITSTOP_REDIS_URL", f"redis://default:hunter2@127.0.0.1:{port}/0")
        killer = threading.Timer(0.6, server.kill)
        killer.start()
        data = ["--data-dir", str(settings.data_dir), "-q", "--batch-rows", "50"]
        code = main(["materialize", *data, "--throttle", "0.02"])
        killer.join()
        out, err = capsys.readouterr()
    finally:
        server.kill()
        server.wait()
    assert code == 1, out + err
    assert err.startswith("pitstop materialize: cannot "), err
    assert f"redis://***@127.0.0.1:{port}/0" in err and "hunter2" not in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_out_of_memory_is_one_line_naming_the_setting(
    folder: Folder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`PITSTOP_MATERIALIZE_MEMORY=1MB pitstop materialize` printed DuckDB's
    OutOfMemoryException with a stack trace and DuckDB's own advice (``SET memory_limit``);
    the next run with enough memory still writes every entity."""
    settings = folder("out-of-memory")
    data = ["materialize", "--data-dir", str(settings.data_dir), "-q"]
    monkeypatch.setenv("PITSTOP_MATERIALIZE_MEMORY", "1MB")
    assert main(data) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert re.match(r"pitstop materialize: \w+: DuckDB ran out of memory \(", err), err
    assert "raise PITSTOP_MATERIALIZE_MEMORY (now 1MB)" in err and "SET " not in err, err

    monkeypatch.delenv("PITSTOP_MATERIALIZE_MEMORY")
    assert main(data[:-1]) == 0
    assert _written(capsys.readouterr().out) == {
        "user_activity": USERS,
        "user_profile": USERS,
        "item_popularity": ITEMS,
    }
