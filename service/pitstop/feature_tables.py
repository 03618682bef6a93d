"""The published layout of a feature table: a folder of Parquet partitions by snapshot date.

``<data>/features/<name>/`` holds one file per snapshot date, ``<YYYY-MM-DD>.<export>-<n>.parquet``
(the table's rows whose ``event_timestamp`` is that UTC midnight; ``<export>`` is new with
every export, so a rewritten partition has a new name; ``<n>`` counts the files of a big
date), and ``_schema.parquet``: no rows, the table's columns, so an empty table reads as one.
A reader that lists the files through the ``features`` link and opens them after a publish
switched it finds a rewritten partition gone (an error, never a mix of two versions); one that
resolves the link first (:func:`pitstop.build.versions.current_version`, as pitstop's readers
do) reads one version whole. Every reader takes ``<name>/*.parquet``: Feast's FileSource path
(feature_repo/data_sources.py), pitstop's offline store, the materializer, the monitor.
Partition files of a date may be left out where no row of that date can matter (a lookup at
``t`` needs rows with ``event_timestamp <= t``; the materializer needs the dates a build
rewrote). A file whose name is not a date (plain ``dbt build`` writes ``data_<n>.parquet``,
the whole table; docs/architecture.md §4) is always read.

A daily build writes only the partitions whose rows changed (dbt's post-hook,
transformations/macros/incremental_windows.sql, into the pending folder, in DuckDB's
``<column>=<value>/`` layout); :func:`stage` turns that into this layout, and
:mod:`pitstop.build.versions` publishes it with the unchanged partitions of the current
version hard-linked, so a reader sees the whole old table or the whole new one.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "PARTITION_COLUMN",
    "SCHEMA_FILE",
    "export_table",
    "files",
    "glob",
    "is_partitioned",
    "is_table",
    "list_sql",
    "name_of",
    "partition_date",
    "partition_key",
    "read_sql",
    "row_count",
    "stage",
    "table_path",
    "write_partitions",
    "write_table",
]

SCHEMA_FILE = "_schema.parquet"
# The column dbt's export partitions by (the UTC date of event_timestamp); not in the files.
PARTITION_COLUMN = "__pitstop_snapshot_date"
# Written by the export into the schema file's metadata: "full" (every partition) or
# "changed" (only the dates whose rows changed; the others stay as published).
EXPORT_KEY = b"pitstop_export"
_DATE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})(\.[0-9a-z-]+)?\.parquet")


def table_path(features_dir: Path, name: str) -> Path:
    """The folder of feature table ``name``."""
    return features_dir / name


def glob(table: Path) -> str:
    """The pattern every reader passes to DuckDB (and Feast's FileSource holds)."""
    return str(table / "*.parquet")


def is_table(path: Path) -> bool:
    """Whether ``path`` is a feature table folder (it holds Parquet files)."""
    return path.is_dir() and any(path.glob("*.parquet"))


def is_partitioned(path: Path) -> bool:
    """Whether ``path`` is a table in this layout that partitions can be merged into: its
    schema file and dated partitions only (not plain dbt's whole-table files)."""
    names = [file for file in path.glob("*.parquet")] if path.is_dir() else []
    return any(file.name == SCHEMA_FILE for file in names) and all(
        file.name == SCHEMA_FILE or partition_date(file) is not None for file in names
    )


def name_of(path: str | os.PathLike[str]) -> str:
    """A table's name from its folder, its glob or a single Parquet file's path."""
    text = str(path)
    if text.endswith("*.parquet"):
        text = text[: -len("*.parquet")]
    table = Path(text.rstrip("/"))
    return table.name.removesuffix(".parquet")


def partition_date(file: Path) -> dt.date | None:
    """The snapshot date a partition file holds, None for a file that is not a partition."""
    match = _DATE_NAME.fullmatch(file.name)
    return dt.date.fromisoformat(match.group(1)) if match else None


def files(table: Path, *, until: dt.date | None = None, since: dt.date | None = None) -> list[Path]:
    """The table's Parquet files, the schema file first; with ``until``/``since``, without the
    partitions of dates after/before them (files that are not partitions are always kept)."""
    kept = []
    for file in table.glob("*.parquet"):
        day = partition_date(file)
        if day is not None and (
            (until is not None and day > until) or (since is not None and day < since)
        ):
            continue
        kept.append(file)
    return sorted(kept, key=lambda file: (file.name != SCHEMA_FILE, file.name))


def list_sql(paths: Iterable[str | os.PathLike[str]]) -> str:
    """``paths`` (files or globs) as a DuckDB list literal, for ``read_parquet`` and
    ``parquet_file_metadata``."""
    from pitstop.sql import literal

    return "[" + ", ".join(literal(str(path)) for path in paths) + "]"


def read_sql(paths: Iterable[str | os.PathLike[str]]) -> str:
    """A DuckDB ``read_parquet`` over ``paths`` (files or globs), hive partitioning off."""
    return f"read_parquet({list_sql(paths)}, hive_partitioning = false)"


def row_count(table: Path) -> int:
    """The table's rows, from the files' footers."""
    import pyarrow.parquet as pq

    return sum(int(pq.ParquetFile(file).metadata.num_rows) for file in files(table))


def stage(exported: Path, schema: Path) -> tuple[Path, bool]:
    """Turn dbt's export of a table (``exported``: ``<PARTITION_COLUMN>=<date>/*.parquet``
    folders, maybe none; ``schema``: its zero-row schema file) into this layout in place.
    Returns the folder and whether it holds every partition (a full export) or only the
    changed ones."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(schema).metadata or {}
    full = metadata.get(EXPORT_KEY, b"full") != b"changed"
    exported.mkdir(parents=True, exist_ok=True)
    export = f"{time.time_ns():x}"
    for folder in sorted(exported.glob(f"{PARTITION_COLUMN}=*")):
        day = dt.date.fromisoformat(folder.name.split("=", 1)[1])
        for index, part in enumerate(sorted(folder.glob("*.parquet"))):
            os.replace(part, exported / f"{day.isoformat()}.{export}-{index}.parquet")
        shutil.rmtree(folder)
    os.replace(schema, exported / SCHEMA_FILE)
    return exported, full


def export_table(warehouse: Path, name: str, table: Path) -> None:
    """Write every partition of the warehouse's table ``name`` into ``table`` (emptied first),
    in this layout: the whole-table export a merge needs when there is nothing to merge into."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        write_partitions(connection, f'main."{name}"', table)
    stage(table, table.with_name(f"{table.name}.schema.parquet"))


def write_table(table: Path, data: Any) -> None:
    """Write ``data`` (an Arrow table or a pandas frame with an ``event_timestamp`` column) as
    the feature table ``table`` in this layout, replacing what was there: how a table of one's
    own is put where Feast's source and pitstop read it."""
    import duckdb

    with duckdb.connect() as connection:
        connection.register("data", data)
        write_partitions(connection, "data", table)
    stage(table, table.with_name(f"{table.name}.schema.parquet"))


def write_partitions(connection: Any, source: str, table: Path) -> None:
    """Every row of ``source`` (a relation or ``read_parquet(...)`` on ``connection``) as dbt's
    full export leaves a table for :func:`stage`: ``table`` (emptied first) of partition
    folders and ``<table>.schema.parquet`` beside it; DuckDB streams it."""
    from pitstop.sql import literal

    shutil.rmtree(table, ignore_errors=True)
    table.parent.mkdir(parents=True, exist_ok=True)
    connection.execute("set TimeZone = 'UTC'")
    connection.execute(
        f"copy (select *, cast(timezone('UTC', event_timestamp::timestamptz) as date) "
        f"as {PARTITION_COLUMN} from {source}) to {literal(str(table))} "
        f"(format parquet, partition_by ({PARTITION_COLUMN}), overwrite true)"
    )
    schema = table.with_name(f"{table.name}.schema.parquet")
    connection.execute(
        f"copy (select * from {source} limit 0) to {literal(str(schema))} (format parquet)"
    )


def partition_key(file_name: str) -> str:
    """What identifies a file's partition: its date (all files of a date are replaced
    together), or the whole name of a file that is not a partition."""
    match = _DATE_NAME.fullmatch(file_name)
    return match.group(1) if match else file_name
