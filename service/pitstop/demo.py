"""``pitstop demo``: the whole flow on a small generated log, ending with a real lookup.

generate (2,000 users x 45 days, seed 7) -> build -> apply -> materialize -> the lookup API in a
child process on a free port -> ``POST /get-online-features`` over HTTP for a few users -> a
churn_v1 training set from the labelled (user, day) rows of ``churn_labels`` -> stop the API.

Everything goes into the data folder it is given (``make demo`` uses ``data/``); the raw log,
registry and online store there are replaced. The HTTP side uses only the standard library, as
a client of the API would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pitstop import feature_tables
from pitstop.api.background import api_in_background
from pitstop.errors import BackgroundApiError
from pitstop.settings import Settings

__all__ = ["DemoReport", "run_demo"]

DEMO_USERS = 2_000
DEMO_DAYS = 45
DEMO_SEED = 7
FEATURE_SERVICE = "churn_v1"
LABEL = "churned_30d"
# Features shown in the lookup table and averaged in the training-set summary.
SHOWN_FEATURES = (
    "events_7d",
    "sessions_7d",
    "purchases_30d",
    "revenue_30d",
    "days_active_30d",
    "last_event_at",
    "hours_since_last_event",
)


@dataclass
class DemoReport:
    """Wall time per stage of the demo, in seconds, and what the lookup returned."""

    stages: dict[str, float] = field(default_factory=dict)
    lookup: dict[str, Any] = field(default_factory=dict)
    training_rows: int = 0
    seconds: float = 0.0


def run_demo(settings: Settings, echo: Callable[[str], None] = print) -> DemoReport:
    """Run the demo in ``settings.data_dir`` and print what happens through ``echo``."""
    began = time.perf_counter()
    report = DemoReport()

    @contextlib.contextmanager
    def stage(name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        report.stages[name] = time.perf_counter() - started
        echo(f"  {name:<14} {report.stages[name]:6.1f} s")

    echo(f"pitstop demo in {settings.data_dir}")
    _start_clean(settings)
    with stage("generate"):
        from pitstop.generator import generate_events

        generated = generate_events(
            settings, users=DEMO_USERS, days=DEMO_DAYS, seed=DEMO_SEED, progress=False
        )
    echo(
        f"    {generated.lines_written:,} raw lines for {generated.users:,} users, "
        f"{generated.start} .. {generated.end}"
    )
    from pitstop.pipeline import run_daily

    daily = run_daily(settings, full_refresh=True)
    stages = {
        "build": daily.build.seconds,
        "apply": daily.apply_seconds,
        "materialize": daily.materialize.seconds,
    }
    counts = daily.build.counts
    for name, seconds in stages.items():
        report.stages[name] = seconds
        echo(f"  {name:<14} {seconds:6.1f} s")
        if name == "build":
            echo(
                f"    {counts.clean_events:,} clean events, {counts.duplicate_lines:,} "
                f"duplicates, {counts.quarantined_lines:,} quarantined"
            )

    users = _users_to_show(settings)
    with api_in_background(settings, log_path=settings.data_dir / "logs" / "demo-api.log") as api:
        # The API starts (it imports Feast) while the training set is built in this process.
        with stage("training set"):
            summary = _training_set(settings)
        with stage("API ready"):
            api.wait_until_healthy()
        with stage("lookup"):
            report.lookup = _post(
                f"{api.base_url}/get-online-features",
                {"feature_service": FEATURE_SERVICE, "entities": {"user_id": users}},
            )
            dtypes = _feature_types(_get(f"{api.base_url}/feature-services"), FEATURE_SERVICE)
    report.training_rows = summary.rows
    report.seconds = time.perf_counter() - began

    echo("")
    echo(f"POST {api.base_url}/get-online-features  feature_service={FEATURE_SERVICE}")
    for line in _lookup_table(report.lookup, dtypes):
        echo(line)
    echo("")
    for line in summary.lines:
        echo(line)
    echo("")
    echo(f"demo finished in {report.seconds:.1f} s (the API is stopped)")
    return report


# ---- data folder -------------------------------------------------------------------------------


def _start_clean(settings: Settings) -> None:
    """The demo replaces the raw log; the registry and online store of an older run go too."""
    for path in (settings.registry_path, settings.online_store_path):
        path.unlink(missing_ok=True)


def _users_to_show(settings: Settings) -> list[int]:
    """The busiest user, a quiet one and a median one at the latest snapshot, plus an unknown
    id (answered NOT_FOUND)."""
    import duckdb

    table = feature_tables.glob(settings.features_dir / "user_activity")
    connection = duckdb.connect()
    try:
        rows = connection.execute(
            """
            with latest as (
                select user_id, events_7d from read_parquet($path)
                qualify row_number() over (partition by user_id order by event_timestamp desc) = 1
            )
            select
                arg_max(user_id, events_7d),
                min(user_id) filter (where events_7d = 0),
                quantile_disc(user_id, 0.5) filter (where events_7d > 0),
                max(user_id)
            from latest
            """,
            {"path": str(table)},
        ).fetchall()
    finally:
        connection.close()
    busiest, quiet, median, largest = rows[0]
    chosen = [user for user in (busiest, median, quiet) if user is not None]
    return [*dict.fromkeys(int(user) for user in chosen), int(largest) + 1_000]


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    answer: dict[str, Any] = _read_json(request)
    return answer


def _get(url: str) -> Any:
    return _read_json(urllib.request.Request(url))


def _read_json(request: urllib.request.Request) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise BackgroundApiError(f"{request.full_url} answered {error.code}: {detail}") from error
    except urllib.error.URLError as error:
        raise BackgroundApiError(f"{request.full_url} did not answer: {error.reason}") from error


# ---- printing the lookup -----------------------------------------------------------------------


def _feature_types(services: Any, name: str) -> dict[str, str]:
    """Feature name -> Feast type name, from GET /feature-services."""
    for service in services if isinstance(services, list) else []:
        if service.get("name") == name:
            return {
                feature["name"]: feature["dtype"]
                for view in service.get("feature_views", [])
                for feature in view.get("features", [])
            }
    return {}


def _lookup_table(response: dict[str, Any], dtypes: dict[str, str]) -> list[str]:
    """A feature-by-user table of a Feast-format response; statuses other than PRESENT shown."""
    names: list[str] = response["metadata"]["feature_names"]
    columns = dict(zip(names, response["results"], strict=True))
    users = columns["user_id"]["values"]
    width = 14
    lines = [f"  {'user_id':<24}" + "".join(f"{user:>{width}}" for user in users)]
    for name in names:
        if name == "user_id" or name not in SHOWN_FEATURES:
            continue
        column = columns[name]
        cells = [
            _cell(value, status, dtypes.get(name, ""))
            for value, status in zip(column["values"], column["statuses"], strict=True)
        ]
        lines.append(f"  {name:<24}" + "".join(f"{cell:>{width}}" for cell in cells))
    shown = len([name for name in names if name in SHOWN_FEATURES])
    lines.append(f"  ({shown} of {len(names) - 1} features shown)")
    return lines


def _cell(value: Any, status: str, dtype: str) -> str:
    if status != "PRESENT" or value is None:
        return status if status != "PRESENT" else "null"
    if dtype == "UnixTimestamp" and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).strftime("%m-%d %H:%M")
    if isinstance(value, float):
        return "null" if math.isnan(value) else f"{value:,.2f}"
    return str(value)


# ---- the training set --------------------------------------------------------------------------


@dataclass(frozen=True)
class _TrainingSummary:
    rows: int
    lines: list[str]


def _training_set(settings: Settings) -> _TrainingSummary:
    """churn_v1 features for every (user, day) with a known churn label."""
    import duckdb

    from pitstop.offline import build_training_set

    folder = settings.data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    spine = folder / "churn_spine.parquet"
    out = folder / "churn_v1_training_set.parquet"
    labels = feature_tables.glob(settings.features_dir / "churn_labels")
    connection = duckdb.connect()
    try:
        # The spine: one row per user per UTC day at which the user is at risk and the next 30
        # days are covered by the data (the label is known); the label passes through.
        connection.execute(
            f"""
            copy (
                select user_id, event_timestamp, {LABEL}
                from read_parquet($labels)
                where {LABEL} is not null
                order by event_timestamp, user_id
            ) to '{spine}' (format parquet)
            """,
            {"labels": str(labels)},
        )
    finally:
        connection.close()
    report = build_training_set(settings, feature_service=FEATURE_SERVICE, entities=spine, out=out)

    import pandas as pd

    frame = pd.read_parquet(out)
    churned = frame[LABEL].astype(bool)
    days = frame["event_timestamp"]
    lines = [
        f"training set {FEATURE_SERVICE}: {report.rows:,} rows (user x day, "
        f"{days.min():%Y-%m-%d} .. {days.max():%Y-%m-%d}) x {len(report.columns)} columns "
        f"in {report.seconds:.1f} s -> {out}",
        f"  label {LABEL}: {int(churned.sum()):,} true ({churned.mean():.1%}), "
        f"{int((~churned).sum()):,} false",
        f"  {'mean of':<24}{'churned':>12}{'stayed':>12}",
    ]
    for name in SHOWN_FEATURES:
        if name not in frame.columns or not pd.api.types.is_numeric_dtype(frame[name]):
            continue
        values = frame[name].astype("float64")
        lines.append(f"  {name:<24}{values[churned].mean():>12.2f}{values[~churned].mean():>12.2f}")
    return _TrainingSummary(rows=report.rows, lines=lines)
