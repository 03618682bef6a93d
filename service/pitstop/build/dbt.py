"""dbt for a data folder: the environment every dbt run gets, and the DuckDB engine's build, a
dbt-duckdb run in a child process.

The child keeps dbt's process-wide state out of the caller, and holds the warehouse (DuckDB
allows one writing process per database file) only while it builds. On Spark dbt runs in this
process instead (:mod:`pitstop.build.spark`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitstop.build.raw_files import raw_file_error_in
from pitstop.errors import BuildError
from pitstop.settings import DBT_PROJECT_DIR, Settings

# Folders (under the output root) that dbt's external models write to; see
# transformations/macros/external_location.sql.
PUBLISHED_FOLDERS = ("features", "quarantine")

# What a build prints dbt's lines to (None: nowhere), and the vars it passes to dbt.
Echo = Callable[[str], None] | None
DbtVars = dict[str, Any]

# The refusal of transformations/macros/horizon.sql: data older than the warehouse keeps.
_HORIZON_REFUSAL = re.compile(r"warehouse horizon: .*?`pitstop build --full-refresh`")

# The child runs dbt's CLI and ends itself once its parent is gone (a `pitstop build` killed
# with -9 cannot stop it): an orphan would go on writing the warehouse under the next build.
_DBT_ENTRY = """
import os, sys, threading, time
parent = os.getppid()
def _end_with_parent():
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(137)
threading.Thread(target=_end_with_parent, daemon=True).start()
from dbt.cli.main import cli
sys.exit(cli())
"""


@dataclass(frozen=True)
class LineCounts:
    """The accounting of docs/architecture.md §2: raw lines = clean + duplicates + quarantined."""

    raw_lines: int
    clean_events: int
    duplicate_lines: int
    quarantined_lines: int
    reasons: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, totals: Sequence[Any], reasons: Iterable[Sequence[Any]]) -> LineCounts:
        """From the rows of :func:`line_count_queries`; reasons most frequent first."""
        raw, clean, duplicates, quarantined = (int(value) for value in totals)
        counted = {str(reason): int(count) for reason, count in reasons}
        return cls(
            raw_lines=raw,
            clean_events=clean,
            duplicate_lines=duplicates,
            quarantined_lines=quarantined,
            reasons=dict(sorted(counted.items(), key=lambda item: (-item[1], item[0]))),
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


def run_in_child(settings: Settings, args: list[str], *, dbt_vars: DbtVars, echo: Echo) -> None:
    """``dbt <args>`` (with ``dbt_vars`` as dbt vars) in a child process on the DuckDB target,
    its external tables written under the pending folder; :class:`BuildError` with a one-line
    reason on failure."""
    extra = ["--vars", json.dumps(dbt_vars)] if dbt_vars else []
    command = [sys.executable, "-c", _DBT_ENTRY, *args, *extra]
    process = subprocess.Popen(
        command,
        cwd=DBT_PROJECT_DIR,
        env=dbt_environment(settings, settings.dbt_pending_dir),
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
    """One line naming what failed, from run_results.json or else dbt's last error line; a raw
    file that cannot be read is named alone (every model reading it fails the same way)."""
    results_path = settings.dbt_target_dir / "run_results.json"
    try:
        results = json.loads(results_path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        results = []
    said = " ".join([*(str(r.get("message")) for r in results), *tail])
    broken = raw_file_error_in(said)
    if broken is not None:
        return broken
    past_horizon = _HORIZON_REFUSAL.search(" ".join(said.split()))
    if past_horizon is not None:
        return past_horizon.group(0)
    for result in results:
        if result.get("status") in ("error", "fail"):
            node = result.get("unique_id", "?").split(".", 2)[-1]
            message = " ".join(str(result.get("message") or result["status"]).split())
            return f"{node}: {message[:300]}"
    errors = [line.strip() for line in tail if "rror" in line]
    return errors[-1][:300] if errors else f"see {settings.dbt_log_dir / 'dbt.log'}"


def line_count_queries(schema: str) -> tuple[str, str]:
    """The accounting's two queries over the staging tables in ``schema`` (DuckDB's ``main``,
    Spark's dbt schema): the totals, and the lines per rejection reason."""
    return (
        "select coalesce(sum(raw_lines), 0), coalesce(sum(clean_events), 0), "
        "coalesce(sum(duplicate_lines), 0), coalesce(sum(quarantined_lines), 0) "
        f"from {schema}.stg_events__line_counts",
        f"select rejection_reason, count(*) from {schema}.stg_events__lines "
        "where rejection_reason is not null group by 1",
    )


def read_line_counts(settings: Settings) -> LineCounts:
    """The accounting of the last build, from the warehouse it left."""
    import duckdb

    totals, by_reason = line_count_queries("main")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        return LineCounts.from_rows(
            connection.execute(totals).fetchall()[0], connection.execute(by_reason).fetchall()
        )
