"""The Feast repo in feature_repo/, read back from a real registry."""

from __future__ import annotations

import datetime as dt

import pytest

from pitstop import feast_repo
from pitstop.settings import Settings


def test_views_and_services_are_described_and_share_the_snapshot_ttl(trap_store: Settings) -> None:
    store = feast_repo.open_store(trap_store)
    views = {view.name: view for view in store.list_feature_views()}
    assert set(views) == {"user_activity", "user_profile", "item_popularity"}
    for view in views.values():
        assert view.ttl == dt.timedelta(days=9)  # 7-day keep-alive rows + a day + a day of slack
        assert view.description and view.owner
    services = {service.name for service in store.list_feature_services()}
    assert services == {"churn_v1", "ranking_v1"}


@pytest.mark.parametrize("as_epoch_seconds", [False, True])
def test_request_time_as_datetime_or_epoch_seconds(
    trap_store: Settings, as_epoch_seconds: bool
) -> None:
    # user 6's latest event before the data's end is the refund at 2026-03-21 09:00 UTC
    request_time = dt.datetime(2026, 3, 22, 9, 0, tzinfo=dt.timezone.utc)
    value: object = int(request_time.timestamp()) if as_epoch_seconds else request_time
    store = feast_repo.open_store(trap_store)
    result = store.get_online_features(
        features=["user_recency:hours_since_last_event"],
        entity_rows=[{"user_id": 6, "request_time": value}],
    ).to_dict()
    assert result["hours_since_last_event"] == [pytest.approx(24.0)]
