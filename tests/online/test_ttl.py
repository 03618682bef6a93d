"""The online TTL: a value older than its view's ttl is OUTSIDE_MAX_AGE, and nothing else is.

The reference is the offline point-in-time join (Feast's get_historical_features on pitstop's
offline store) at the same moment: online, with the TTL, must give exactly the values the
training set gives for an entity row at that time, for every trap user and feature, from the
day the data ends to well past the ttl. Without the TTL (PITSTOP_ONLINE_TTL=off) the stale
values come back as Feast serves them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from pitstop.api.lookup import LookupRequest, lookup
from pitstop.api.serving import Serving
from pitstop.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

USERS = [*range(1, 11), 424242]
BATCH_FEATURES = {"events_7d", "revenue_30d", "lifetime_purchases", "last_event_at"}
DAY = 86_400


@pytest.fixture(scope="module")
def serving(trap_store: Settings) -> Serving:
    serving = Serving(trap_store)
    serving.refresh()
    assert serving.problem is None, serving.problem
    return serving


@pytest.fixture(scope="module")
def data_end(features: Any) -> float:
    """The newest snapshot in the trap feature tables (epoch seconds)."""
    newest = features.execute(
        "select max(event_timestamp) from (select event_timestamp from user_activity "
        "union all select event_timestamp from user_profile)"
    ).fetchall()[0][0]
    return float(newest.timestamp())


def _online(serving: Serving, service: str, now: float) -> dict[str, tuple[list[Any], list[str]]]:
    request = LookupRequest(entities={"user_id": USERS}, feature_service=service)
    result = asyncio.run(lookup(serving, request, now=now))
    return {
        name: (column.values, column.statuses)
        for name, column in zip(result.plan.feature_names, result.outcome.columns, strict=True)
    }


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


@pytest.mark.parametrize("days_after", [0, 3, 8, 9, 10, 30])
def test_online_with_ttl_equals_the_offline_join_at_the_same_time(
    serving: Serving, local_store: FeatureStore, data_end: float, days_after: int
) -> None:
    now = data_end + days_after * DAY + 3600
    online = _online(serving, "churn_v1", now)
    offline = _offline(local_store, "churn_v1", now)
    for name, (values, statuses) in online.items():
        expected = [_plain(value) for value in offline[name].tolist()]
        assert values == pytest.approx(expected, nan_ok=True), (name, days_after)
        for value, status in zip(values, statuses, strict=True):
            if status == "OUTSIDE_MAX_AGE":
                assert value is None
    batch = [statuses for name, (_, statuses) in online.items() if name in BATCH_FEATURES]
    flagged = {status for statuses in batch for status in statuses}
    if days_after == 0:
        # Inside the data a keep-alive row is never more than 7 days old: nothing is stale.
        assert "OUTSIDE_MAX_AGE" not in flagged
    if days_after >= 7 + 9:
        # Past a keep-alive week plus the ttl, every known user is stale.
        assert flagged == {"OUTSIDE_MAX_AGE", "NOT_FOUND"}


def test_without_the_ttl_stale_values_are_served(
    serving: Serving, trap_store: Settings, data_end: float
) -> None:
    now = data_end + 30 * DAY
    with_ttl = _online(serving, "churn_v1", now)
    plain = Serving(dataclasses.replace(trap_store, online_ttl=False))
    plain.refresh()
    without = _online(plain, "churn_v1", now)
    events = USERS.index(1)
    assert with_ttl["events_7d"][1][events] == "OUTSIDE_MAX_AGE"
    assert with_ttl["events_7d"][0][events] is None
    assert without["events_7d"][1][events] == "PRESENT"
    assert without["events_7d"][0][events] is not None
    # An unknown user is NOT_FOUND either way.
    assert with_ttl["events_7d"][1][USERS.index(424242)] == "NOT_FOUND"


def test_a_value_just_inside_the_ttl_is_served(serving: Serving, data_end: float) -> None:
    """The boundary is the offline rule's: event_timestamp >= t - ttl is still served."""
    assert serving.compiled is not None
    ttl = serving.compiled.plans.registry.views["user_activity"].ttl_seconds
    assert ttl == 9 * DAY

    def status_at(now: float) -> tuple[str, str]:
        request = LookupRequest(entities={"user_id": [1]}, features=["user_activity:events_30d"])
        column = asyncio.run(lookup(serving, request, now=now)).outcome.columns[0]
        return column.statuses[0], column.event_timestamps[0]

    _, stamp = status_at(data_end)
    row_time = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    assert status_at(row_time + ttl)[0] == "PRESENT"
    assert status_at(row_time + ttl + 1)[0] == "OUTSIDE_MAX_AGE"
