"""Which arrival partitions an incremental build reads again (pitstop.build.arrivals)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from pitstop.build.arrivals import list_raw_files, partition_day, record_loaded, redo_since
from tests.conftest import write_raw_logs

LINE = '{"event_id":"e1","event_type":"login","user_id":1,"ts":"2026-03-01T10:00:00Z"}'


def _log(data_dir: Path) -> Path:
    write_raw_logs(data_dir, {day: [LINE] for day in ("2026-03-01", "2026-03-02", "2026-03-03")})
    return data_dir / "raw" / "events"


def test_the_listing_stops_at_the_run_date(tmp_path: Path) -> None:
    raw = _log(tmp_path)
    (raw / "date=2026-03-02" / "notes.txt").write_text("not a log")
    listed = list_raw_files(raw, date(2026, 3, 2))
    assert [(Path(f.path).parent.name, f.arrival_date) for f in listed] == [
        ("date=2026-03-01", date(2026, 3, 1)),
        ("date=2026-03-02", date(2026, 3, 2)),
    ]


def test_without_a_record_the_models_fall_back_to_their_lookback(tmp_path: Path) -> None:
    raw = _log(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    assert redo_since(warehouse, list_raw_files(raw)) is None  # no warehouse
    duckdb.connect(str(warehouse)).close()
    assert redo_since(warehouse, list_raw_files(raw)) is None  # a warehouse without a record


def test_nothing_changed_reads_nothing(tmp_path: Path) -> None:
    raw = _log(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    record_loaded(warehouse, list_raw_files(raw))
    assert redo_since(warehouse, list_raw_files(raw)) == date(2026, 3, 4)


def test_the_earliest_new_changed_or_removed_file_sets_the_start(tmp_path: Path) -> None:
    raw = _log(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    record_loaded(warehouse, list_raw_files(raw))

    write_raw_logs(tmp_path, {"2026-03-04": [LINE]})  # the next day arrives
    assert redo_since(warehouse, list_raw_files(raw)) == date(2026, 3, 4)

    write_raw_logs(tmp_path, {"2026-03-02": [LINE]}, part="part-00001")  # a late file
    assert redo_since(warehouse, list_raw_files(raw)) == date(2026, 3, 2)

    record_loaded(warehouse, list_raw_files(raw))
    (raw / "date=2026-03-03" / "part-00000.jsonl").write_text(LINE + "\n" + LINE + "\n")
    assert redo_since(warehouse, list_raw_files(raw)) == date(2026, 3, 3)  # rewritten

    record_loaded(warehouse, list_raw_files(raw))
    (raw / "date=2026-03-01" / "part-00000.jsonl").unlink()
    assert redo_since(warehouse, list_raw_files(raw)) == date(2026, 3, 1)  # removed


def test_only_partition_folders_name_a_day() -> None:
    assert partition_day("date=2026-03-01") == date(2026, 3, 1)
    assert partition_day("date=2026-3-1") is None
    assert partition_day("date=2026-03-01.tmp") is None
    assert partition_day("_generation.json") is None
