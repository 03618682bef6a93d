"""Freshness: how old the newest snapshot of each feature view is, offline and online.

A view is expected to get a new snapshot every ``settings.freshness_hours`` (daily by default).
Its age is ``now`` minus how far its data reaches: the coverage its table records
(:mod:`pitstop.coverage`; without one, its newest ``event_timestamp``). Past 1.5x the interval it
is ``warn``, past 2x ``error``: where the API starts answering the view's values
``OUTSIDE_MAX_AGE``. Both stores are read, because either can stop: the feature table (the
daily build stopped) and the online store (materialize stopped; the coverage the last
materialization recorded, or SQLite's newest ``event_ts``). The view's status is the worse
of the two, and its reported ``newest_event_timestamp`` the older of the two: what a model is
served is no fresher.

dbt's own signals come with it: ``dbt source freshness`` (run by :func:`run_source_freshness`,
read from ``sources.json``) for the raw logs every view derives from, and the last run's test
results (``run_results.json``).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitstop import coverage
from pitstop.errors import OnlineStoreUnavailableError
from pitstop.monitoring.statuses import Status, worst
from pitstop.settings import DBT_PROJECT_DIR, Settings

WARN_FACTOR = 1.5
ERROR_FACTOR = coverage.STALE_FACTOR  # error where the API ages the values
FEAST_PROJECT = "pitstop"


@dataclass(frozen=True)
class StoreFreshness:
    """The newest snapshot of one view in one store."""

    store: str  # "offline" or "online"
    status: Status
    newest_event_timestamp: dt.datetime | None
    age_seconds: float | None
    reason: str = ""


@dataclass(frozen=True)
class Freshness:
    status: Status
    newest_event_timestamp: dt.datetime | None
    age_seconds: float | None
    stores: tuple[StoreFreshness, ...] = ()
    # When the view went stale (its values are OUTSIDE_MAX_AGE from then on); None: it is not.
    stale_since: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "newest_event_timestamp": _iso(self.newest_event_timestamp),
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "stale_since": _iso(self.stale_since),
        }


@dataclass(frozen=True)
class DbtSignals:
    """dbt's source freshness and the last run's tests; ``skipped`` when dbt left no file."""

    source_status: Status
    source_detail: str
    tests_status: Status
    tests_passed: int = 0
    tests_failed: list[str] = field(default_factory=list)
    tests_warned: list[str] = field(default_factory=list)


def age_status(age: dt.timedelta, interval: dt.timedelta) -> Status:
    if age > interval * ERROR_FACTOR:
        return "error"
    if age > interval * WARN_FACTOR:
        return "warn"
    return "ok"


def view_freshness(
    settings: Settings,
    view: str,
    newest_offline: dt.datetime | None,
    now: dt.datetime,
    dbt: DbtSignals | None = None,
) -> Freshness:
    """The view's freshness from its feature table's newest snapshot and the online store."""
    interval = dt.timedelta(hours=settings.freshness_hours)
    offline = _store("offline", newest_offline, now, interval, "no feature table rows")
    online_newest, reason = newest_online(settings, view)
    online = (
        StoreFreshness("online", "skipped", None, None, reason)
        if reason
        else _store("online", online_newest, now, interval, "no rows in the online store")
    )
    stores = (offline, online)
    statuses: list[Status] = [offline.status, online.status]
    if dbt is not None:
        statuses.append(dbt.source_status)
    measured = [store for store in stores if store.newest_event_timestamp is not None]
    oldest = min(measured, key=lambda store: store.newest_event_timestamp) if measured else None  # type: ignore[arg-type,return-value]
    reach = oldest.newest_event_timestamp if oldest else None
    stale = None if reach is None else coverage.stale_after(reach, settings.freshness_hours)
    return Freshness(
        status=worst(statuses),
        newest_event_timestamp=reach,
        age_seconds=oldest.age_seconds if oldest else None,
        stores=stores,
        stale_since=stale if stale is not None and now > stale else None,
    )


def _store(
    store: str,
    newest: dt.datetime | None,
    now: dt.datetime,
    interval: dt.timedelta,
    missing: str,
) -> StoreFreshness:
    if newest is None:
        return StoreFreshness(store, "error", None, None, missing)
    age = now - newest
    return StoreFreshness(store, age_status(age, interval), newest, age.total_seconds())


def newest_online(settings: Settings, view: str) -> tuple[dt.datetime | None, str]:
    """How far ``view``'s online data reaches: the coverage the last materialization recorded
    (pitstop.coverage), else (SQLite) the newest ``event_ts``; or (None, why not measured)."""
    if settings.online_store == "sqlite" and not settings.online_store_path.is_file():
        return None, f"no online store at {settings.online_store_path}; run `pitstop materialize`"
    from pitstop.online.stores import open_online_store

    try:
        store = open_online_store(settings, FEAST_PROJECT)
    except OnlineStoreUnavailableError as error:
        return None, str(error)
    try:
        seconds = store.coverage().get(view)
        if seconds is None and settings.online_store == "sqlite":
            from pitstop.online.sqlite_store import SqliteStore

            assert isinstance(store, SqliteStore)
            seconds = store.newest_event_seconds(view)
        elif seconds is None:
            return None, (
                f"no coverage recorded for {view} in the {settings.online_store} online store; "
                "run `pitstop materialize`"
            )
    except OnlineStoreUnavailableError as error:
        return None, str(error)
    finally:
        store.close()
    if seconds is None:
        return None, ""
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc), ""


# ---- dbt ---------------------------------------------------------------------------------------
def run_source_freshness(settings: Settings) -> None:
    """Run ``dbt source freshness`` (writes ``sources.json``); its exit code says nothing new."""
    from pitstop.build.dbt import dbt_environment

    entry = "import sys; from dbt.cli.main import cli; sys.exit(cli())"
    subprocess.run(
        [sys.executable, "-c", entry, "source", "freshness"],
        cwd=DBT_PROJECT_DIR,
        env=dbt_environment(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=600,
    )


def dbt_signals(settings: Settings) -> DbtSignals:
    """Read ``sources.json`` and ``run_results.json`` from the data folder's dbt target."""
    target = settings.dbt_target_dir
    source_status, source_detail = _source_freshness(target / "sources.json")
    tests_status: Status = "skipped"
    passed, failed, warned = 0, [], []
    results = _read_json(target / "run_results.json")
    if results is not None:
        for result in results.get("results", []):
            unique_id = str(result.get("unique_id", ""))
            if not unique_id.startswith(("test.", "unit_test.")):
                continue
            status = result.get("status")
            if status == "pass":
                passed += 1
            elif status == "warn":
                warned.append(unique_id)
            elif status in ("fail", "error"):
                failed.append(unique_id)
        if passed or failed or warned:
            tests_status = "error" if failed else "warn" if warned else "ok"
    return DbtSignals(
        source_status=source_status,
        source_detail=source_detail,
        tests_status=tests_status,
        tests_passed=passed,
        tests_failed=failed,
        tests_warned=warned,
    )


def _source_freshness(path: Path) -> tuple[Status, str]:
    data = _read_json(path)
    if data is None:
        return "skipped", "no sources.json: `dbt source freshness` has not run"
    statuses: list[Status] = []
    details = []
    for result in data.get("results", []):
        raw = str(result.get("status", "error"))
        status: Status = {"pass": "ok", "warn": "warn"}.get(raw, "error")  # type: ignore[assignment]
        statuses.append(status)
        source = str(result.get("unique_id", "?")).removeprefix("source.")
        details.append(f"{source}: {raw}, newest file {result.get('max_loaded_at', '?')}")
    if not statuses:
        return "skipped", "sources.json has no results"
    return worst(statuses), "; ".join(details)


def _read_json(path: Path) -> Mapping[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.timezone.utc).isoformat()
