"""``pitstop build`` on Spark (``PITSTOP_ENGINE=spark``): the same dbt project, dbt-spark's
session method, in this process.

dbt runs in-process here (on DuckDB it runs in a child): dbt-spark's session method takes the
active Spark session, so the build, the training sets and materialization of one pitstop
process share one JVM started with pitstop's settings (:mod:`pitstop.build.spark_session`).
Spark's catalog is in memory, so every build starts empty and builds every model whole; the
Parquet files are the hand-off, as with DuckDB.

Spark writes each external table as a folder of part files; :func:`merge_part_folders` turns
each into the single ``<name>.parquet`` file the DuckDB build writes, so Feast, DuckDB and
pyarrow read one layout whichever engine built it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pitstop import feature_tables
from pitstop.build import arrivals
from pitstop.build.dbt import (
    PUBLISHED_FOLDERS,
    DbtVars,
    Echo,
    LineCounts,
    dbt_environment,
    line_count_queries,
)
from pitstop.build.raw_files import raw_content, raw_file_error_in
from pitstop.build.spark_session import DBT_SCHEMA, spark_session
from pitstop.errors import BuildError
from pitstop.settings import DBT_PROJECT_DIR, Settings

# dbt's unit tests carry DuckDB-typed fixture rows; they run on the DuckDB build, and the
# parity tests check that Spark's tables equal DuckDB's.
_SPARK_DBT_FLAGS = ["--target", "spark", "--exclude-resource-type", "unit_test"]
# dbt event levels worth echoing (what dbt prints by default).
_ECHO_LEVELS = ("info", "warn", "error")


def run_in_process(settings: Settings, args: list[str], *, dbt_vars: DbtVars, echo: Echo) -> None:
    """``dbt <args>`` on the Spark target in this process, with ``dbt_vars`` (e.g. run_date)
    as dbt vars, then each table it wrote under the pending folder merged into one file;
    :class:`BuildError` on failure."""
    from dbt.cli.main import dbtRunner

    session = spark_session(settings)
    # A fresh catalog for every build: the previous build's tables would make dbt take the
    # incremental path, which Spark's in-memory catalog does not support.
    session.sql(f"drop database if exists {DBT_SCHEMA} cascade")
    # What the raw read calls for each file: a .gz file's bytes decompressed
    # (raw_files_arrived in transformations/macros/cross_engine/raw_events.sql).
    session.udf.register("pitstop_raw_content", raw_content, "binary")

    def forward(event: Any) -> None:
        if echo is not None and event.info.level in _ECHO_LEVELS and event.info.msg:
            echo(str(event.info.msg))

    output_root = settings.dbt_pending_dir
    with _environment(dbt_environment(settings, output_root)):
        result = dbtRunner(callbacks=[forward]).invoke(
            [
                *args,
                *_SPARK_DBT_FLAGS,
                "--vars",
                json.dumps({**dbt_vars, "spark_empty_raw_files": _empty_raw_files(settings)}),
                "--quiet",
                "--project-dir",
                str(DBT_PROJECT_DIR),
            ]
        )
    if not result.success:
        raise BuildError(f"dbt build on Spark failed: {_failure_reason(result)}")
    for folder in PUBLISHED_FOLDERS:
        if folder == "features":
            partition_part_folders(output_root / folder)
        else:
            merge_part_folders(output_root / folder)


def partition_part_folders(folder: Path) -> None:
    """Replace each ``<name>.parquet/`` folder of Spark part files under ``folder`` by the
    feature table layout (:mod:`pitstop.feature_tables`), every partition (Spark builds the
    marts whole), and its schema file, as DuckDB's export leaves them for the publish."""
    import duckdb

    from pitstop.sql import literal

    for directory in sorted(path for path in folder.glob("*.parquet") if path.is_dir()):
        if not list(directory.glob("part-*.parquet")):
            raise BuildError(f"Spark wrote no Parquet part files under {directory}")
        table = directory.with_name(directory.name.removesuffix(".parquet"))
        with duckdb.connect() as connection:
            source = f"read_parquet({literal(str(directory / 'part-*.parquet'))})"
            feature_tables.write_partitions(connection, source, table)
        shutil.rmtree(directory)


def merge_part_folders(folder: Path) -> None:
    """Replace each ``<name>.parquet/`` folder of Spark part files under ``folder`` by one
    ``<name>.parquet`` file with the same rows, copied row group by row group (memory bounded
    by a row group, not the table)."""
    import pyarrow.parquet as pq

    for directory in sorted(path for path in folder.glob("*.parquet") if path.is_dir()):
        parts = sorted(directory.glob("part-*.parquet"))
        if not parts:
            raise BuildError(f"Spark wrote no Parquet part files under {directory}")
        merged = directory.with_name(f".{directory.name}.merging")
        schema = pq.read_schema(parts[0])
        with pq.ParquetWriter(merged, schema) as writer:
            for part in parts:
                file = pq.ParquetFile(part)
                for index in range(file.num_row_groups):
                    writer.write_table(file.read_row_group(index).cast(schema))
        shutil.rmtree(directory)
        os.replace(merged, directory)


def read_line_counts(settings: Settings) -> LineCounts:
    """The accounting of the last build, from the tables of the last Spark build in this
    process."""
    session = spark_session(settings)
    totals, by_reason = line_count_queries(DBT_SCHEMA)
    return LineCounts.from_rows(session.sql(totals).collect()[0], session.sql(by_reason).collect())


def _empty_raw_files(settings: Settings) -> list[dict[str, Any]]:
    """Raw files with no bytes, which Spark's binaryFile reader skips: their arrival day still
    counts (see create_raw_events_relation in transformations/macros/cross_engine/)."""
    return [
        {"path": str(path), "modified_micros": path.stat().st_mtime_ns // 1000}
        for file in arrivals.list_raw_files(settings.raw_events_dir)
        if (path := settings.raw_events_dir / file.path).stat().st_size == 0
    ]


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block, then each of those variables as it was.

    dbt's in-process runner (dbtRunner) reads its settings (profile, vars through env_var) from
    the process environment and takes no environment of its own, so this is the one place a
    build sets variables in it; nothing else in the environment is touched.
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _failure_reason(result: Any) -> str:
    messages = [str(result.exception)] + [
        str(getattr(node, "message", "")) for node in getattr(result.result, "results", None) or []
    ]
    broken = raw_file_error_in(" ".join(messages))
    if broken is not None:
        return broken
    if result.exception is not None:
        return " ".join(str(result.exception).split())[:300]
    for node in getattr(result.result, "results", None) or []:
        status = str(getattr(node, "status", ""))
        if status in ("error", "fail"):
            message = " ".join(str(getattr(node, "message", "") or status).split())
            return f"{node.node.name}: {message[:300]}"
    return "see the dbt output above"
