"""The marts' key tests on a daily run check only the rows the run can have written; a full
build checks every row (transformations/macros/test_unique_combination.sql).

A duplicate is planted in the warehouse's user_activity after a daily run, then dbt's key test
runs as that daily run ran it (var redo_since) and as a full build does (no var): an old
duplicate is outside the daily scope and caught by the full check only; a recent one is caught
by both.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pitstop.build.dbt import run_in_child
from pitstop.build.run import build
from pitstop.errors import BuildError
from pitstop.settings import Settings
from tests.conftest import write_trap_log

DAILY_RUN = date(2026, 4, 15)
SELECT = ["test", "--select", "user_activity,test_name:unique_combination"]


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = Path(tmp_path_factory.mktemp("scoped"))
    write_trap_log(folder)
    settings = replace(Settings.from_env(folder), warehouse_horizon_days=365)
    build(settings, run_date=date(2026, 3, 21), echo=None)
    build(settings, run_date=DAILY_RUN, echo=None)
    return settings


def _key_test(settings: Settings, scoped: bool) -> bool:
    """Whether user_activity's key test passes, run as a daily run (scoped) or a full build."""
    dbt_vars = {"redo_since": DAILY_RUN.isoformat(), "run_date": DAILY_RUN.isoformat()}
    try:
        run_in_child(settings, SELECT, dbt_vars=dbt_vars if scoped else {}, echo=None)
    except BuildError:
        return False
    return True


def _plant(settings: Settings, which: str) -> None:
    """Insert a second copy of user_activity's oldest or newest row."""
    order = "asc" if which == "oldest" else "desc"
    with duckdb.connect(str(settings.warehouse_path)) as connection:
        connection.execute(
            "insert into user_activity select * from user_activity "
            f"order by event_timestamp {order}, user_id limit 1"
        )


def _compiled_key_test(settings: Settings) -> str:
    paths = sorted(settings.dbt_target_dir.rglob("unique_combination_user_activi*.sql"))
    compiled = [path for path in paths if "compiled" in path.parts]
    assert compiled, paths
    return compiled[0].read_text()


def test_the_daily_run_checked_only_its_rows(daily: Settings) -> None:
    # 8 days (back_days) before the earliest event day that arrived since 2026-04-15 (its events
    # are of 2026-04-15) or before 2026-04-15 itself, whichever is earlier
    floor = "least(date '2026-04-15', date '2026-04-15') - 8"
    compiled = " ".join(_compiled_key_test(daily).split())
    assert f"where event_timestamp >= timezone('UTC', cast({floor} as timestamp))" in compiled


def test_an_old_duplicate_is_the_full_checks_and_a_new_one_both(daily: Settings) -> None:
    assert _key_test(daily, scoped=True)
    assert _key_test(daily, scoped=False)
    _plant(daily, "oldest")
    assert _key_test(daily, scoped=True)  # outside what the run wrote
    assert not _key_test(daily, scoped=False)
    _plant(daily, "newest")
    assert not _key_test(daily, scoped=True)
