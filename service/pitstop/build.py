"""``pitstop build``: run the dbt project for a data folder and publish its tables atomically.

dbt writes the external tables (feature tables and the quarantine) into a pending folder; only
when every model and test passed are they moved into ``<data>/features/`` and
``<data>/quarantine/``. A failed build therefore leaves the last good tables in place, which is
what Feast, training jobs and the online store read.

``settings.engine`` picks the engine: DuckDB (dbt-duckdb in a child process, the default) or
Spark (dbt-spark in this process, :mod:`pitstop.spark_build`); the models are the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pitstop import arrivals, mart_declarations
from pitstop.errors import BuildError, MissingInputError
from pitstop.settings import DBT_PROJECT_DIR, Settings
from pitstop.sql import literal

# Folders (under the output root) that dbt's external models write to; see
# transformations/macros/external_location.sql.
PUBLISHED_FOLDERS = ("features", "quarantine")

_DBT_ENTRY = "import sys; from dbt.cli.main import cli; sys.exit(cli())"


@dataclass(frozen=True)
class LineCounts:
    """The accounting of docs/architecture.md §2: raw lines = clean + duplicates + quarantined."""

    raw_lines: int
    clean_events: int
    duplicate_lines: int
    quarantined_lines: int
    reasons: dict[str, int] = field(default_factory=dict)


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
    (:mod:`pitstop.arrivals`; without that record, from ``lookback_days`` before the newest
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
        (settings.data_dir / folder).mkdir(parents=True, exist_ok=True)

    rebuilt: dict[str, str] = {}
    if not full_refresh and mart_declarations.vocabulary_changed(settings):
        full_refresh, rebuilt = True, {"every model": "the event vocabulary changed"}
        if echo is not None:
            echo("rebuilding every model from the raw log: the event vocabulary changed")
    args = ["build", "--full-refresh"] if full_refresh else ["build"]
    dbt_vars = {"run_date": run_date.isoformat()} if run_date is not None else {}
    raw_files = arrivals.list_raw_files(settings.raw_events_dir, run_date)
    if settings.engine == "duckdb" and not full_refresh:
        since = arrivals.redo_since(settings.warehouse_path, raw_files)
        if since is not None:
            dbt_vars["redo_since"] = since.isoformat()
        # Spark builds every mart whole anyway; on DuckDB a mart is extended from its own rows.
        rebuilt = mart_declarations.changed_marts(settings)
    if settings.engine == "spark":
        from pitstop import spark_build

        spark_build.run_dbt(
            settings,
            args,
            environment=dbt_environment(settings, pending),
            echo=echo,
            dbt_vars=dbt_vars,
        )
        for folder in PUBLISHED_FOLDERS:
            spark_build.merge_part_folders(pending / folder)
    else:
        extra = ["--vars", json.dumps(dbt_vars)] if dbt_vars else []
        if rebuilt:
            if echo is not None:
                for mart, why in rebuilt.items():
                    echo(f"rebuilding {mart} from its inputs: {why}")
            # Everything else incrementally first (the marts' inputs included), then the marts
            # whose declaration changed, whole, from those inputs.
            _run_dbt(
                settings, [*args, "--exclude", *rebuilt, *extra], output_root=pending, echo=echo
            )
            args = [*args, "--full-refresh", "--select", *rebuilt]
        _run_dbt(settings, [*args, *extra], output_root=pending, echo=echo)

    published = _publish(settings, pending)
    if settings.engine == "duckdb":
        _repoint_views(settings, published)
        arrivals.record_loaded(settings.warehouse_path, raw_files)
        mart_declarations.record(settings)
    counts = read_line_counts(settings)
    tables = {
        path.stem: _parquet_rows(path) for path in published if path.parent.name == "features"
    }
    return BuildReport(
        counts=counts,
        tables=tables,
        quarantine_path=settings.quarantine_dir / "stg_events__quarantine.parquet",
        seconds=time.perf_counter() - started,
        rebuilt=rebuilt,
    )


def dbt_environment(settings: Settings, output_root: Path | None = None) -> dict[str, str]:
    """The environment a dbt process needs for this data folder (also used by tests)."""
    env = dict(os.environ)
    env["PITSTOP_DATA_DIR"] = str(settings.data_dir)
    env["PITSTOP_OUTPUT_ROOT"] = str(output_root or settings.data_dir)
    env["DBT_PROFILES_DIR"] = str(DBT_PROJECT_DIR)
    env["DBT_PROJECT_DIR"] = str(DBT_PROJECT_DIR)
    env["DBT_TARGET_PATH"] = str(settings.dbt_target_dir)
    env["DBT_LOG_PATH"] = str(settings.dbt_log_dir)
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env.setdefault("DBT_USE_COLORS", "false")
    return env


def _require_raw_logs(settings: Settings, run_date: date | None = None) -> None:
    if not any(settings.raw_events_dir.glob("date=*/*.jsonl")):
        raise MissingInputError(
            f"no raw logs under {settings.raw_events_dir}; run `pitstop generate` first"
        )
    if run_date is not None and not any(
        settings.raw_events_dir.glob(f"date={run_date:%Y-%m-%d}/*.jsonl")
    ):
        raise MissingInputError(
            f"no raw logs for {run_date} under {settings.raw_events_dir}; "
            "the day's partition must arrive before its run"
        )


def _run_dbt(
    settings: Settings,
    args: list[str],
    *,
    output_root: Path,
    echo: Callable[[str], None] | None,
) -> None:
    """Run dbt in a child process (dbt keeps process-wide state; DuckDB one writer per file)."""
    command = [sys.executable, "-c", _DBT_ENTRY, *args]
    process = subprocess.Popen(
        command,
        cwd=DBT_PROJECT_DIR,
        env=dbt_environment(settings, output_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    tail: list[str] = []
    for line in process.stdout:
        line = line.rstrip("\n")
        tail = (tail + [line])[-40:]
        if echo is not None:
            echo(line)
    if process.wait() != 0:
        raise BuildError(f"dbt build failed: {_failure_reason(settings, tail)}")


def _failure_reason(settings: Settings, tail: list[str]) -> str:
    """One line naming what failed, from run_results.json or else dbt's last error line."""
    results_path = settings.dbt_target_dir / "run_results.json"
    try:
        results = json.loads(results_path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        results = []
    for result in results:
        if result.get("status") in ("error", "fail"):
            node = result.get("unique_id", "?").split(".", 2)[-1]
            message = " ".join(str(result.get("message") or result["status"]).split())
            return f"{node}: {message[:300]}"
    errors = [line.strip() for line in tail if "rror" in line]
    return errors[-1][:300] if errors else "see the dbt output above"


def _publish(settings: Settings, pending: Path) -> list[Path]:
    """Move every pending table into place; each file is replaced atomically."""
    published = []
    for folder in PUBLISHED_FOLDERS:
        for source in sorted((pending / folder).glob("*.parquet")):
            _drop_placeholder_row(source)
            target = settings.data_dir / folder / source.name
            os.replace(source, target)
            published.append(target)
    return published


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
            if path.stem in tables:
                continue  # an incremental mart: the warehouse keeps the table, dbt exported it
            connection.execute(
                f'create or replace view main."{path.stem}" as '
                f"select * from read_parquet({literal(path)})"
            )


def read_line_counts(settings: Settings) -> LineCounts:
    """The accounting of the last build, read from the warehouse (on Spark, from the tables
    of the last build in this process)."""
    if settings.engine == "spark":
        from pitstop import spark_build

        (raw, clean, duplicates, quarantined), by_reason = spark_build.read_line_counts(settings)
        return LineCounts(
            raw_lines=raw,
            clean_events=clean,
            duplicate_lines=duplicates,
            quarantined_lines=quarantined,
            reasons=dict(sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))),
        )
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        raw, clean, duplicates, quarantined = connection.execute(
            "select coalesce(sum(raw_lines), 0), coalesce(sum(clean_events), 0), "
            "coalesce(sum(duplicate_lines), 0), coalesce(sum(quarantined_lines), 0) "
            "from main.stg_events__line_counts"
        ).fetchall()[0]
        reasons = connection.execute(
            "select rejection_reason, count(*) from main.stg_events__lines "
            "where rejection_reason is not null group by 1 order by 2 desc, 1"
        ).fetchall()
    return LineCounts(
        raw_lines=int(raw),
        clean_events=int(clean),
        duplicate_lines=int(duplicates),
        quarantined_lines=int(quarantined),
        reasons={str(reason): int(count) for reason, count in reasons},
    )


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)
