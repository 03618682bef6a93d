"""``pitstop build``: run the dbt project for a data folder and publish its tables atomically.

dbt writes the external tables (feature tables and the quarantine) into a pending folder; only
when every model and test passed are they moved into ``<data>/features/`` and
``<data>/quarantine/``. A failed build therefore leaves the last good tables in place, which is
what Feast, training jobs and the online store read.

The engine (:func:`pitstop.engine.engine_for`: DuckDB, the default, or Spark) runs dbt; the
models are the same on both, and only DuckDB's builds are incremental.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pitstop import coverage, feature_tables
from pitstop.build import arrivals, declarations, versions
from pitstop.build.dbt import PUBLISHED_FOLDERS, LineCounts
from pitstop.build.raw_files import raw_file_paths
from pitstop.engine import engine_for
from pitstop.errors import MissingInputError
from pitstop.settings import Settings
from pitstop.sql import literal

__all__ = ["BuildReport", "LineCounts", "build", "read_line_counts"]


@dataclass(frozen=True)
class BuildReport:
    """What a successful build produced."""

    counts: LineCounts
    tables: dict[str, int]
    quarantine_path: Path
    seconds: float
    # The marts rebuilt whole because their declaration changed, with why.
    rebuilt: dict[str, str] = field(default_factory=dict)


def build(
    settings: Settings,
    *,
    full_refresh: bool = False,
    run_date: date | None = None,
    echo: Callable[[str], None] | None = print,
) -> BuildReport:
    """Run ``dbt build`` for ``settings.data_dir`` and publish the tables it wrote.

    A build is incremental unless ``full_refresh``: it reads the arrival partitions from the
    earliest one with a raw file that is new, changed or gone since the last successful build
    (:mod:`pitstop.build.arrivals`; without that record, from ``lookback_days`` before the newest
    one it has seen), and recomputes only the entities and days they touch. ``run_date``
    builds the log as of that arrival day: its partition must exist, later ones are left for
    later runs.

    ``echo`` receives dbt's progress lines (``None`` silences them). Raises
    :class:`MissingInputError` when there are no raw logs (or no partition for ``run_date``)
    and :class:`BuildError` with a one-line reason when dbt fails.
    """
    started = time.perf_counter()
    _require_raw_logs(settings, run_date)
    pending = settings.dbt_pending_dir
    shutil.rmtree(pending, ignore_errors=True)
    for folder in PUBLISHED_FOLDERS:
        (pending / folder).mkdir(parents=True, exist_ok=True)

    engine = engine_for(settings)
    rebuilt: dict[str, str] = {}
    if not full_refresh and declarations.vocabulary_changed(settings):
        full_refresh, rebuilt = True, {"every model": "the event vocabulary changed"}
        if echo is not None:
            echo("rebuilding every model from the raw log: the event vocabulary changed")
    args = ["build", "--full-refresh"] if full_refresh else ["build"]
    dbt_vars: dict[str, object] = {}
    if run_date is not None:
        dbt_vars["run_date"] = run_date.isoformat()
    if engine.incremental:
        # the marts export only the partitions a daily run changed (pitstop.feature_tables)
        dbt_vars["export_partitions"] = "changed"
    if settings.warehouse_horizon_days is not None:
        dbt_vars["warehouse_horizon_days"] = settings.warehouse_horizon_days
    raw_files = arrivals.list_raw_files(settings.raw_events_dir, run_date)
    if engine.incremental and not full_refresh:
        since = arrivals.redo_since(settings.warehouse_path, raw_files)
        if since is not None:
            dbt_vars["redo_since"] = since.isoformat()
        # A mart is extended from its own rows: one whose declaration changed is rebuilt.
        rebuilt = declarations.changed_marts(settings)
        cut = arrivals.horizon_cut(settings.warehouse_path, raw_files) if rebuilt else None
        if cut is not None:
            # A mart rebuilt whole may read every event of its entities (a declared distinct,
            # min, max or latest), and the warehouse no longer holds those before the cut:
            # everything is rebuilt from the raw log instead (docs/architecture.md §2).
            why = (
                f"{', '.join(rebuilt)} changed, and the warehouse keeps events from {cut} on "
                "only (warehouse_horizon_days)"
            )
            full_refresh, rebuilt = True, {"every model": why}
            args = ["build", "--full-refresh"]
            dbt_vars.pop("redo_since", None)
            if echo is not None:
                echo(f"rebuilding every model from the raw log: {why}")
    if rebuilt and engine.incremental and not full_refresh:  # (a whole build rebuilds all)
        if echo is not None:
            for mart, why in rebuilt.items():
                echo(f"rebuilding {mart} from its inputs: {why}")
        # Everything else incrementally first (the marts' inputs included), then the marts
        # whose declaration changed, whole, from those inputs.
        engine.run_dbt(settings, [*args, "--exclude", *rebuilt], dbt_vars=dbt_vars, echo=echo)
        args = [*args, "--full-refresh", "--select", *rebuilt]
    engine.run_dbt(settings, args, dbt_vars=dbt_vars, echo=echo)

    published = _publish(settings, pending, raw_files)
    if engine.incremental:
        # What the next build extends and compares with.
        _repoint_views(settings, published)
        arrivals.record_loaded(settings.warehouse_path, raw_files)
        declarations.record(settings)
    counts = read_line_counts(settings)
    tables = {
        feature_tables.name_of(path): feature_tables.row_count(path)
        for path in published
        if path.parent.name == "features"
    }
    return BuildReport(
        counts=counts,
        tables=tables,
        quarantine_path=settings.quarantine_dir / "stg_events__quarantine.parquet",
        seconds=time.perf_counter() - started,
        rebuilt=rebuilt,
    )


def _require_raw_logs(settings: Settings, run_date: date | None = None) -> None:
    if not arrivals.list_raw_files(settings.raw_events_dir):
        raise MissingInputError(
            f"no raw logs under {settings.raw_events_dir}; run `pitstop generate` first"
        )
    if run_date is not None and not raw_file_paths(
        settings.raw_events_dir / f"date={run_date:%Y-%m-%d}"
    ):
        raise MissingInputError(
            f"no raw logs for {run_date} under {settings.raw_events_dir}; "
            "the day's partition must arrive before its run"
        )


def _publish(settings: Settings, pending: Path, raw_files: list[arrivals.RawFile]) -> list[Path]:
    """Every pending table of a folder into place at once, with the feature tables' coverage
    record (:mod:`pitstop.build.versions`: a new version folder, then one rename). A feature
    table's export of its changed partitions is merged with the current version's others."""
    published = []
    for folder in PUBLISHED_FOLDERS:
        sources, merged = [], set()
        for schema in sorted((pending / folder).glob("*.schema.parquet")):
            table, full = feature_tables.stage(
                schema.with_name(schema.name.removesuffix(".schema.parquet")), schema
            )
            if not full and not _has_table(settings.data_dir / folder, table.name):
                # changed partitions only, but nothing to merge them into (no table, a single
                # old file, or plain dbt's whole-table files)
                feature_tables.export_table(settings.warehouse_path, table.name, table)
                full = True
            sources.append(table)
            if not full:
                merged.add(table.name)
        for source in sorted((pending / folder).glob("*.parquet")):
            _drop_placeholder_row(source)
            sources.append(source)
        tables = [feature_tables.name_of(source) for source in sources]
        record = (
            (lambda version, tables=tables: _record_coverage(version, raw_files, tables))
            if folder == "features"
            else None
        )
        published += versions.publish(settings.data_dir / folder, sources, record, merged=merged)
    return published


def _has_table(link: Path, name: str) -> bool:
    current = versions.current_version(link)
    return current is not None and feature_tables.is_partitioned(current / name)


def _record_coverage(features: Path, raw_files: list[arrivals.RawFile], tables: list[str]) -> None:
    """Record how far the published feature tables reach: the UTC midnight after the newest
    arrival partition read, as ``int_data_coverage.coverage_end_date`` (pitstop.coverage)."""
    if not raw_files:
        return
    newest = max(file.arrival_date for file in raw_files) + timedelta(days=1)
    covered_until = datetime.combine(newest, datetime.min.time(), tzinfo=timezone.utc)
    coverage.write(features, covered_until, tables)


def _drop_placeholder_row(path: Path) -> None:
    """dbt-duckdb writes an empty external model as one all-null row; store zero rows instead.

    (Its materialization does this so the view it creates has columns; Parquet keeps the schema
    of an empty table, and Feast or a reader of the quarantine must not see a phantom row.)
    """
    import pyarrow.parquet as pq

    if pq.ParquetFile(path).metadata.num_rows != 1:
        return
    table = pq.read_table(path)
    if all(column.null_count == 1 for column in table.columns):
        pq.write_table(table.slice(0, 0), path)


def _repoint_views(settings: Settings, published: list[Path]) -> None:
    """dbt left the warehouse's views on the pending copies; point them at the published files.

    Marts kept as incremental tables (exported to Parquet by a post-hook) stay tables.
    """
    import duckdb

    with duckdb.connect(str(settings.warehouse_path)) as connection:
        tables = {
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'main' and table_type = 'BASE TABLE'"
            ).fetchall()
        }
        for path in published:
            if path.stem in tables or path.is_dir():
                continue  # an incremental mart: the warehouse keeps the table, dbt exported it
            connection.execute(
                f'create or replace view main."{path.stem}" as '
                f"select * from read_parquet({literal(path)})"
            )


def read_line_counts(settings: Settings) -> LineCounts:
    """The accounting of the last build, read from the warehouse (on Spark, from the tables
    of the last build in this process)."""
    return engine_for(settings).read_line_counts(settings)
