"""``pitstop build``: the accounting of raw lines, the quarantine, failures and incremental runs."""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pitstop.build.run import BuildReport, build
from pitstop.errors import BuildError, MissingInputError
from pitstop.settings import Settings
from tests import trap_log
from tests.conftest import write_raw_logs, write_trap_log


def _physical_lines(settings: Settings) -> int:
    total = 0
    for path in settings.raw_events_dir.glob("date=*/*.jsonl"):
        content = path.read_bytes()
        total += content.count(b"\n") + (1 if content and not content.endswith(b"\n") else 0)
    return total


def test_every_raw_line_is_accounted_for(trap_build: tuple[Settings, BuildReport]) -> None:
    settings, report = trap_build
    counts = report.counts
    assert counts.raw_lines == _physical_lines(settings)
    assert (
        counts.raw_lines == counts.clean_events + counts.duplicate_lines + counts.quarantined_lines
    )
    assert counts.duplicate_lines == trap_log.DUPLICATE_DELIVERIES
    assert counts.quarantined_lines == len(trap_log.FAULTS) + 1  # + the line that is not UTF-8


def test_each_quarantined_line_keeps_file_line_text_and_reason(
    trap_build: tuple[Settings, BuildReport],
) -> None:
    settings, report = trap_build
    quarantine = pq.read_table(report.quarantine_path).to_pylist()
    by_place = {(Path(row["file_path"]).parent.name, row["line_number"]): row for row in quarantine}

    for number, (line, reason) in enumerate(trap_log.FAULTS, start=1):
        row = by_place[("date=2026-03-05", number)]
        assert (row["rejection_reason"], row["raw_line"]) == (reason, line)

    not_utf8 = by_place[("date=2026-03-06", 2)]
    assert not_utf8["rejection_reason"] == "invalid_utf8"
    assert "not text" in not_utf8["raw_line"]
    assert len(quarantine) == len(by_place) == report.counts.quarantined_lines
    assert report.counts.reasons["malformed_json"] == 2


def test_lines_around_a_bad_one_are_kept(trap_build: tuple[Settings, BuildReport]) -> None:
    settings, _ = trap_build
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        kept = connection.execute(
            "select event_id from stg_events__events where event_id in ('u1', 'u2') order by 1"
        ).fetchall()
    assert kept == [("u1",), ("u2",)]  # both sides of the non-UTF-8 line, the last without "\n"


def test_build_without_logs_says_what_to_run_first(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="run `pitstop generate` first"):
        build(Settings.from_env(tmp_path), echo=None)


def _digest(folder: Path) -> dict[str, str]:
    """Content of every table, independent of row order, encoding and the data folder's path."""
    data_dir = str(folder.parent)
    digests = {}
    tables = [*folder.glob("*.parquet"), *(path for path in folder.iterdir() if path.is_dir())]
    assert tables, f"no tables in {folder}"
    with duckdb.connect() as connection:
        for path in sorted(tables):
            files = path / "*.parquet" if path.is_dir() else path  # a feature table's partitions
            rows = connection.execute(
                f"select * from read_parquet('{files}') order by all"
            ).fetchall()
            text = repr(rows).replace(data_dir, "<data>")
            digests[path.name] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def test_failed_build_leaves_the_last_good_tables(tmp_path: Path) -> None:
    write_trap_log(tmp_path, days=["2026-03-01", "2026-03-03"])
    settings = Settings.from_env(tmp_path)
    build(settings, echo=None)
    before = _digest(settings.features_dir)

    # new data arrives, but another process holds the warehouse: dbt cannot take its lock
    write_trap_log(tmp_path, days=["2026-03-04"])
    with (
        duckdb.connect(str(settings.warehouse_path)),
        pytest.raises(BuildError, match=r"^dbt build failed: .*lock"),
    ):
        build(settings, echo=None)
    assert _digest(settings.features_dir) == before

    # once the lock is gone the next build publishes the new data
    build(settings, echo=None)
    assert _digest(settings.features_dir) != before


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.glob("*") if tasks.is_dir() else []:
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopted it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_a_killed_build_takes_its_dbt_child_down(tmp_path: Path) -> None:
    """kill -9 of `pitstop build` left the dbt child running, still writing the warehouse
    (and holding its lock against the next build)."""
    write_trap_log(tmp_path, days=["2026-03-01", "2026-03-03"])
    command = [sys.executable, "-m", "pitstop.cli", "build", "--data-dir", str(tmp_path)]
    build_process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    children: list[int] = []
    while not children and time.monotonic() < deadline and build_process.poll() is None:
        children = _children(build_process.pid)
        time.sleep(0.05)
    assert children, "the build started no child process"
    time.sleep(1.0)  # dbt is under way
    build_process.kill()
    build_process.wait()
    deadline = time.monotonic() + 10
    while any(map(_running, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_running, children)), "the dbt child outlived its killed parent"
    # and the next build has the warehouse to itself
    report = build(Settings.from_env(tmp_path), echo=None)
    assert report.counts.raw_lines > 0


def test_incremental_runs_equal_a_full_rebuild(
    tmp_path: Path, trap_build: tuple[Settings, BuildReport]
) -> None:
    full_settings, _ = trap_build
    days = sorted(trap_log.partitions())
    settings = replace(Settings.from_env(tmp_path), warehouse_horizon_days=365)  # as trap_build
    # day by day across the late event (03-05 arriving 03-09) and the duplicate (03-12, 03-14)
    for cut in ("2026-03-04", "2026-03-10", "2026-03-13", days[-1]):
        write_trap_log(
            tmp_path, days=[day for day in days if day <= cut] + ["2026-03-05", "2026-03-06"]
        )
        build(settings, echo=None)
    assert _digest(settings.features_dir) == _digest(full_settings.features_dir)
    assert _digest(settings.quarantine_dir) == _digest(full_settings.quarantine_dir)

    # running again over the same files changes nothing
    again = build(settings, echo=None)
    assert _digest(settings.features_dir) == _digest(full_settings.features_dir)
    assert again.counts.raw_lines == _physical_lines(settings)


def test_partition_landing_in_the_past_is_picked_up(tmp_path: Path) -> None:
    settings = Settings.from_env(tmp_path)
    write_raw_logs(tmp_path, {"2026-03-01": [trap_log.partitions()["2026-03-01"][0]]})
    build(settings, echo=None)
    # a second file appears in the already-built partition (within the lookback)
    write_raw_logs(tmp_path, {"2026-03-01": trap_log.partitions()["2026-03-01"][1:]}, "part-00001")
    report = build(settings, echo=None)
    assert report.counts.clean_events == 4


def test_build_shows_progress_not_dbts_log_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pitstop build` printed about 170 lines of dbt's log before the counts."""
    from pitstop.cli import main

    write_trap_log(tmp_path, days=["2026-03-01", "2026-03-03"])
    assert main(["build", "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("raw lines ") and "START" not in out and "START" not in err
    final = err.strip().splitlines()[-1]
    done, total = re.search(r"^dbt: (\d+) of (\d+) nodes done", final).groups()  # type: ignore[union-attr]
    assert done == total and int(total) > 10
    assert len(err.splitlines()) <= 12  # about every tenth of the way, not every node
    assert "START" in (tmp_path / "dbt" / "logs" / "dbt.log").read_text()

    assert main(["build", "--data-dir", str(tmp_path), "-v", "--full-refresh"]) == 0
    out, err = capsys.readouterr()
    assert "START" in out and "raw lines " in out and not err.strip()


def test_timestamps_whose_offset_leaves_years_1_to_9999_are_quarantined(tmp_path: Path) -> None:
    """Year 1 or 9999 with an offset is year 0 or 10000 in UTC (the trial's variants of the
    trap log's f21/f22): quarantined with a reason, the user's other events kept."""
    line = '{"event_id": "%s", "event_type": "login", "user_id": 1, "ts": "%s"}'
    write_raw_logs(
        tmp_path,
        {
            "2026-03-01": [
                line % ("early", "0001-01-01T00:30:00+01:00"),
                line % ("late", "9999-12-31T23:30:00-01:00"),
                line % ("kept", "2026-03-01T10:00:00Z"),
            ]
        },
    )
    report = build(Settings.from_env(tmp_path), echo=None)
    counts = report.counts
    assert (counts.raw_lines, counts.clean_events, counts.quarantined_lines) == (3, 1, 2)
    assert set(counts.reasons) <= {"ts_out_of_range", "invalid_ts"}, counts.reasons
    assert sum(counts.reasons.values()) == 2
