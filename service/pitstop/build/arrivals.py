"""Which arrival partitions an incremental build reads again: those whose raw files changed.

A successful DuckDB build records in the warehouse every raw file it loaded, with its size and
modification time (:func:`record_loaded`). The next build lists the raw files again
(:func:`list_raw_files`); the earliest arrival partition holding a file that is new, changed
or gone since that record is where the incremental models start (:func:`redo_since`, passed
to dbt as the var ``redo_since``). On a normal day that is the one new partition. A late file
dropped into an older partition moves the start back to that partition, and everything from
there on is redone, so the first delivery of an event is still found. A failed build records
nothing: the next one starts where the failed one did.

Without a record (a warehouse from before this, or none) the models fall back to re-reading
the newest ``lookback_days`` partitions (transformations/macros/incremental_windows.sql).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pitstop.build.raw_files import raw_file_paths
from pitstop.errors import BuildError

LOADED_FILES_TABLE = "pitstop_loaded_files"
# Where the warehouse horizon records its cut (transformations/macros/horizon.sql).
HORIZON_TABLE = "pitstop_horizon"
# An arrival partition's folder, as the generator writes it and dbt's source reads it.
PARTITION_NAME = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


def partition_day(folder_name: str) -> date | None:
    """The arrival day a partition folder is named after; None for any other name."""
    match = PARTITION_NAME.fullmatch(folder_name)
    return date.fromisoformat(match.group(1)) if match else None


@dataclass(frozen=True)
class RawFile:
    path: str  # relative to the raw events folder: a data folder can move
    arrival_date: date
    size_bytes: int
    modified_ns: int


def list_raw_files(raw_events_dir: Path, run_date: date | None = None) -> list[RawFile]:
    """The raw files a build reads (``date=YYYY-MM-DD/*.jsonl`` or ``*.jsonl.gz``, see
    :mod:`pitstop.build.raw_files`), up to ``run_date``."""
    files = []
    for folder in raw_events_dir.glob("date=*"):
        arrival = partition_day(folder.name)
        if arrival is None or (run_date is not None and arrival > run_date):
            continue
        for path in raw_file_paths(folder):
            if not path.is_file():
                # dbt's file listing skips it: what it holds would be neither read nor counted
                raise BuildError(
                    f"raw file {path} is a directory, not a file; move its files into {folder} "
                    "(or rename it), then build again"
                )
            stat = path.stat()
            relative = path.relative_to(raw_events_dir).as_posix()
            files.append(RawFile(relative, arrival, stat.st_size, stat.st_mtime_ns))
    return sorted(files, key=lambda file: file.path)


def redo_since(warehouse_path: Path, files: list[RawFile]) -> date | None:
    """The earliest arrival date with a new, changed or removed file since the last recorded
    build; the day after the newest partition when nothing changed; None without a record."""
    loaded = _read_loaded(warehouse_path)
    if loaded is None or not files:
        return None
    current = {(f.path, f.size_bytes, f.modified_ns): f.arrival_date for f in files}
    changed = [arrival for key, arrival in current.items() if key not in loaded]
    changed += [arrival for key, arrival in loaded.items() if key not in current]
    if changed:
        return min(changed)
    return date.fromordinal(max(current.values()).toordinal() + 1)


def horizon_cut(warehouse_path: Path, files: list[RawFile]) -> date | None:
    """The first arrival partition the warehouse's staging tables still hold when the
    horizon has cut off older ones (``kept_from`` of the table ``pitstop_horizon``,
    transformations/macros/horizon.sql); None when they hold every partition of ``files``."""
    if not warehouse_path.exists() or not files:
        return None
    import duckdb

    try:
        with duckdb.connect(str(warehouse_path), read_only=True) as connection:
            row = connection.execute(f"select max(kept_from) from main.{HORIZON_TABLE}").fetchone()
    except duckdb.Error:  # never cut (no table), or the file is locked by another process
        return None
    kept_from = row[0] if row else None
    earliest = min(file.arrival_date for file in files)
    return kept_from if kept_from is not None and kept_from > earliest else None


def record_loaded(warehouse_path: Path, files: list[RawFile]) -> None:
    """Remember ``files`` as loaded: call only after every model and test passed."""
    import duckdb
    import pyarrow as pa

    table = pa.table(
        {
            "file_path": [f.path for f in files],
            "arrival_date": pa.array([f.arrival_date for f in files], pa.date32()),
            "size_bytes": pa.array([f.size_bytes for f in files], pa.int64()),
            "modified_ns": pa.array([f.modified_ns for f in files], pa.int64()),
        }
    )
    try:
        with duckdb.connect(str(warehouse_path)) as connection:
            connection.register("loaded", table)
            connection.execute(f"create or replace table main.{LOADED_FILES_TABLE} as from loaded")
    except duckdb.Error as error:
        # the tables are published; an old record only makes the next build re-read more
        raise BuildError(
            f"the build is published, but recording its raw files failed ({error}); "
            "the next build re-reads the partitions since the last record"
        ) from error


def _read_loaded(warehouse_path: Path) -> dict[tuple[str, int, int], date] | None:
    """The recorded files, None without a record or when the warehouse cannot be opened (dbt
    then fails on it with its own message)."""
    if not warehouse_path.exists():
        return None
    import duckdb

    try:
        with duckdb.connect(str(warehouse_path), read_only=True) as connection:
            rows = connection.execute(
                "select file_path, size_bytes, modified_ns, arrival_date "
                f"from main.{LOADED_FILES_TABLE}"
            ).fetchall()
    except duckdb.Error:  # no such table yet, or the file is locked by another process
        return None
    return {(path, size, modified): arrival for path, size, modified, arrival in rows}
