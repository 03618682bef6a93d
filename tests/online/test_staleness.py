"""Staleness by coverage (docs/architecture.md §3, "Staleness"): inside the data nothing ages;
past the tables' coverage plus two daily intervals, every value of the view is stale, online
(OUTSIDE_MAX_AGE) and offline (null) alike.

The coverage is taken from the trap log itself (its newest arrival partition + 1 day,
tests/trap_log.py: COVERAGE_END), not from the file the build wrote. The references: stock
Feast (``offline_store: type: duckdb``, which knows nothing of coverage) inside the data, and
nulls past the bound; online must equal pitstop's offline join at the same instant throughout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import yaml

from pitstop.api.lookup import LookupRequest, lookup
from pitstop.api.serving import Serving
from pitstop.settings import FEATURE_REPO_DIR, Settings
from tests import trap_log

if TYPE_CHECKING:
    from feast import FeatureStore

USERS = [*range(1, 11), 424242]
BATCH_FEATURES = {"events_7d", "revenue_30d", "lifetime_purchases", "last_event_at"}
ON_DEMAND_FEATURES = {"hours_since_last_event", "days_since_first_seen"}
HOUR = 3600
COVERED_UNTIL = dt.datetime.fromisoformat(trap_log.COVERAGE_END.replace("Z", "+00:00"))
# Two daily intervals (PITSTOP_FRESHNESS_HOURS = 24): one until the next run, one missed run.
GRACE_HOURS = 48


@pytest.fixture(scope="module")
def serving(trap_store: Settings) -> Serving:
    serving = Serving(trap_store)
    serving.refresh()
    assert serving.problem is None, serving.problem
    return serving


@pytest.fixture(scope="module")
def stock_feast(trap_store: Settings, tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    """Feast's own DuckDB offline store on the same repo, registry and tables."""
    from feast import FeatureStore

    from pitstop.feast_adapter.config import feast_config

    config = feast_config(trap_store)
    config["offline_store"] = {"type": "duckdb"}
    path = Path(tmp_path_factory.mktemp("stock")) / "feature_store.yaml"
    path.write_text(yaml.safe_dump(config))
    return FeatureStore(repo_path=str(FEATURE_REPO_DIR), fs_yaml_file=path)


def _online(
    serving: Serving, service: str, now: float
) -> tuple[dict[str, tuple[list[Any], list[str]]], dict[str, str]]:
    request = LookupRequest(entities={"user_id": USERS}, feature_service=service)
    result = asyncio.run(lookup(serving, request, now=now))
    columns = {
        name: (column.values, column.statuses)
        for name, column in zip(result.plan.feature_names, result.outcome.columns, strict=True)
    }
    return columns, result.stale_header()


def _offline(store: FeatureStore, service: str, now: float) -> pd.DataFrame:
    moment = pd.Timestamp(now, unit="s", tz="UTC")
    entity_df = pd.DataFrame(
        {
            "user_id": USERS,
            "event_timestamp": [moment] * len(USERS),
            "request_time": [moment] * len(USERS),
        }
    )
    frame = store.get_historical_features(
        entity_df=entity_df, features=store.get_feature_service(service)
    ).to_df()
    return frame.set_index("user_id").loc[USERS]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return math.floor(value.timestamp())
    return value.item() if hasattr(value, "item") else value


def test_the_build_records_the_coverage_of_the_log(trap_store: Settings) -> None:
    from pitstop import coverage

    recorded = coverage.read(trap_store.features_dir)
    assert {"user_activity", "user_profile", "item_popularity"} <= set(recorded)
    assert set(recorded.values()) == {COVERED_UNTIL}


@pytest.mark.parametrize("hours_after", [0, 1, 30, 48, 49, 24 * 9, 24 * 30])
def test_online_equals_the_offline_join_at_the_same_time(
    serving: Serving, local_store: FeatureStore, hours_after: int
) -> None:
    now = COVERED_UNTIL.timestamp() + hours_after * HOUR
    online, header = _online(serving, "churn_v1", now)
    offline = _offline(local_store, "churn_v1", now)
    for name, (values, statuses) in online.items():
        expected = [_plain(value) for value in offline[name].tolist()]
        assert values == pytest.approx(expected, nan_ok=True), (name, hours_after)
        for value, status in zip(values, statuses, strict=True):
            if status == "OUTSIDE_MAX_AGE":
                assert value is None
    flagged = {
        status
        for name, (_, statuses) in online.items()
        if name in BATCH_FEATURES | ON_DEMAND_FEATURES
        for status in statuses
    }
    inside, _ = _online(serving, "churn_v1", COVERED_UNTIL.timestamp())
    if hours_after <= GRACE_HOURS:
        # Inside the data and the grace nothing ages, however old an entity's row is.
        assert "OUTSIDE_MAX_AGE" not in flagged, hours_after
        assert header == {}
    else:
        # Past it, every value of every known user is stale, on-demand ones included.
        for name in BATCH_FEATURES | ON_DEMAND_FEATURES:
            values, statuses = online[name]
            # (an on-demand value is as known as the profile it is computed from)
            source = "last_event_at" if name in ON_DEMAND_FEATURES else name
            known = [row for row, status in enumerate(inside[source][1]) if status == "PRESENT"]
            assert len(known) >= 5, name
            assert {statuses[row] for row in known} == {"OUTSIDE_MAX_AGE"}, name
            assert {values[row] for row in known} == {None}, name
        assert online["events_7d"][1][USERS.index(424242)] == "NOT_FOUND"
        since = COVERED_UNTIL + dt.timedelta(hours=GRACE_HOURS)
        assert f"user_activity={since:%Y-%m-%dT%H:%M:%SZ}" in header["Pitstop-Stale"]


@pytest.mark.parametrize("hours_after", [-24 * 20, -24, 0, 48])
def test_inside_the_coverage_pitstop_is_stock_feast_cell_for_cell(
    local_store: FeatureStore, stock_feast: FeatureStore, hours_after: int
) -> None:
    now = COVERED_UNTIL.timestamp() + hours_after * HOUR
    ours = _offline(local_store, "churn_v1", now)
    stock = _offline(stock_feast, "churn_v1", now)
    for name in ours.columns:
        if name == "event_timestamp":
            continue
        assert [_plain(value) for value in ours[name]] == pytest.approx(
            [_plain(value) for value in stock[name]], nan_ok=True
        ), (name, hours_after)


def test_past_the_grace_the_offline_join_is_null_where_stock_feast_is_not(
    local_store: FeatureStore, stock_feast: FeatureStore
) -> None:
    now = COVERED_UNTIL.timestamp() + (GRACE_HOURS * HOUR) + 1
    ours = _offline(local_store, "churn_v1", now)
    stock = _offline(stock_feast, "churn_v1", now)
    known = stock.index[stock["events_30d"].notna()]  # stock Feast serves the old values
    assert len(known) >= 5
    assert ours.loc[known, "events_30d"].isna().all()


def test_the_boundary_is_inclusive(serving: Serving) -> None:
    bound = COVERED_UNTIL.timestamp() + GRACE_HOURS * HOUR

    def status_at(now: float) -> str:
        request = LookupRequest(entities={"user_id": [1]}, features=["user_activity:events_30d"])
        return asyncio.run(lookup(serving, request, now=now)).outcome.columns[0].statuses[0]

    assert status_at(bound) == "PRESENT"
    assert status_at(bound + 1) == "OUTSIDE_MAX_AGE"


def test_a_pushed_row_stays_fresh_in_a_stale_view(serving: Serving) -> None:
    """A row written after the coverage (a push) ages from its own time, not the table's."""
    from pitstop.online.plans import answer
    from pitstop.online.stores import ViewRows

    assert serving.compiled is not None
    plan = serving.compiled.plans.for_refs(["user_activity:events_30d"], False)
    bound = COVERED_UNTIL.timestamp() + GRACE_HOURS * HOUR
    now = bound + 10 * 24 * HOUR
    pushed, old = now - HOUR, COVERED_UNTIL.timestamp() - 24 * HOUR
    found = [ViewRows(event_seconds=[pushed, old], values=[[b"", b""]])]
    cutoff = {plan.reads[0].read.view: now - GRACE_HOURS * HOUR}
    outcome = answer(plan, found, {}, 2, now, True, cutoff)
    assert outcome.columns[0].statuses == ["PRESENT", "OUTSIDE_MAX_AGE"]


def test_without_ageing_stale_values_are_served(serving: Serving, trap_store: Settings) -> None:
    now = COVERED_UNTIL.timestamp() + 30 * 24 * HOUR
    plain = Serving(dataclasses.replace(trap_store, online_ttl=False))
    plain.refresh()
    without, header = _online(plain, "churn_v1", now)
    row = USERS.index(1)
    assert without["events_7d"][1][row] == "PRESENT"
    assert without["events_7d"][0][row] is not None
    assert header == {}


def test_the_shipped_views_have_no_ttl(serving: Serving) -> None:
    assert serving.compiled is not None
    views = serving.compiled.plans.registry.views
    assert {views[name].ttl_seconds for name in views} <= {None, 0}
