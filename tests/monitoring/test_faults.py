"""One test per planted fault, each found with the right status; no fault stays green."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from pitstop.feature_tables import write_table
from pitstop.monitoring import compute_status
from pitstop.monitoring.serving_log import ServingLogger
from pitstop.monitoring.status import MonitoringStatus
from pitstop.online.registry import open_registry
from pitstop.settings import Settings
from tests.monitoring.conftest import Monitored, copy_of

VIEWS = {"user_activity", "user_profile", "item_popularity"}


def _edit_table(settings: Settings, view: str, edit) -> None:  # type: ignore[no-untyped-def]
    path = settings.features_dir / view
    write_table(path, edit(pd.read_parquet(path)))


def _window(frame: pd.DataFrame, monitored: Monitored) -> pd.Series:
    return frame["event_timestamp"] >= monitored.last - dt.timedelta(days=6)


def _statuses(status: MonitoringStatus) -> dict[tuple[str, str], str]:
    return {
        (view, feature): item.drift.status
        for view, measured in status.views.items()
        for feature, item in measured.features.items()
    }


def test_no_fault_is_ok(monitored: Monitored) -> None:
    status = compute_status(monitored.settings, now=monitored.now)
    body = status.to_json()
    assert body["status"] == "ok", body
    assert set(body["feature_views"]) == VIEWS
    for view in body["feature_views"].values():
        assert set(view) == {"freshness", "features"}
        assert set(view["freshness"]) == {
            "status",
            "newest_event_timestamp",
            "age_seconds",
            "stale_since",
        }
        assert view["freshness"]["status"] == "ok"
        assert view["freshness"]["age_seconds"] == 12 * 3600
        for feature in view["features"].values():
            assert set(feature) == {"drift", "null_rate", "skew"}
            assert set(feature["drift"]) == {"psi", "status"}
            assert set(feature["skew"]) == {"stale_rate", "wrong_rate"}
            assert feature["drift"]["status"] == "ok"
            assert feature["drift"]["psi"] < 0.1
    # Every feature of the two views has a baseline (ranking_v1 covers them all).
    _, source = open_registry(monitored.settings)
    registered = source.read().views
    for name in ("user_activity", "item_popularity"):
        declared = {feature.name for feature in registered[name].features}
        assert set(body["feature_views"][name]["features"]) == declared


@pytest.mark.parametrize(
    ("days_missing", "hours_after", "expected"), [(1, 14, "warn"), (3, 12, "error")]
)
def test_view_whose_data_stops_arriving(
    monitored: Monitored, tmp_path: Path, days_missing: int, hours_after: int, expected: str
) -> None:
    settings = copy_of(monitored, tmp_path / "data")
    cutoff = monitored.last - dt.timedelta(days=days_missing)
    _edit_table(settings, "item_popularity", lambda f: f[f["event_timestamp"] <= cutoff])

    status = compute_status(settings, now=monitored.last + dt.timedelta(hours=hours_after))

    fresh = status.views["item_popularity"].freshness
    assert fresh.status == expected
    assert fresh.newest_event_timestamp == cutoff
    offline, online = fresh.stores
    assert (offline.status, online.status) == (expected, "ok")
    assert status.status == expected
    assert status.views["user_activity"].freshness.status == "ok"


def test_online_store_that_stops_being_materialized(monitored: Monitored, tmp_path: Path) -> None:
    # The feature tables move on (two more days) but nothing reaches the online store.
    settings = copy_of(monitored, tmp_path / "data")
    status = compute_status(settings, now=monitored.last + dt.timedelta(days=2, hours=12))
    offline, online = status.views["user_activity"].freshness.stores
    assert offline.status == online.status == "error"  # both age 2.5 days here
    later = copy_of(monitored, tmp_path / "later")

    def shift(frame: pd.DataFrame) -> pd.DataFrame:
        newer = frame[frame["event_timestamp"] == monitored.last].copy()
        newer["event_timestamp"] += pd.Timedelta(days=2)
        newer["created_timestamp"] = newer["event_timestamp"]
        return pd.concat([frame, newer])

    _edit_table(later, "user_activity", shift)
    status = compute_status(later, now=monitored.last + dt.timedelta(days=2, hours=12))
    fresh = status.views["user_activity"].freshness
    offline, online = fresh.stores
    assert (offline.status, online.status, fresh.status) == ("ok", "error", "error")
    assert fresh.newest_event_timestamp == monitored.last  # the staler store is what is served


def test_distribution_shift(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")

    def triple_revenue(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[_window(frame, monitored), "revenue_7d"] *= 3
        return frame

    _edit_table(settings, "user_activity", triple_revenue)
    status = compute_status(settings, now=monitored.now)

    statuses = _statuses(status)
    assert statuses.pop(("user_activity", "revenue_7d")) == "error"
    assert set(statuses.values()) == {"ok"}
    assert status.views["user_activity"].features["revenue_7d"].drift.psi > 0.25
    assert status.status == "error"


def test_small_shift_warns(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")

    def more_events(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[_window(frame, monitored), "events_30d"] += 2
        return frame

    _edit_table(settings, "user_activity", more_events)
    item = compute_status(settings, now=monitored.now).views["user_activity"].features["events_30d"]
    assert item.drift.status == "warn", item.drift


def test_null_spike(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")

    def nulls(frame: pd.DataFrame) -> pd.DataFrame:
        frame["events_7d"] = frame["events_7d"].astype("Int64")
        spike = _window(frame, monitored) & (frame["user_id"] % 10 < 4)
        frame.loc[spike, "events_7d"] = pd.NA
        return frame

    _edit_table(settings, "user_activity", nulls)
    status = compute_status(settings, now=monitored.now)

    item = status.views["user_activity"].features["events_7d"]
    assert item.drift.status == "error"
    assert item.null_rate == pytest.approx(0.4)
    assert status.to_json()["feature_views"]["user_activity"]["features"]["events_7d"][
        "null_rate"
    ] == pytest.approx(0.4)
    assert status.views["user_activity"].features["events_1d"].drift.status == "ok"


def test_too_few_rows_is_insufficient_data_never_ok(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")
    # 100 items x 7 days = 700 rows in the window: fewer than 1,000.
    _edit_table(settings, "item_popularity", lambda f: f[f["item_id"] <= 100])
    status = compute_status(settings, now=monitored.now)
    drifts = [item.drift for item in status.views["item_popularity"].features.values()]
    assert {item.status for item in drifts} == {"insufficient_data"}
    assert all(item.psi is not None for item in drifts)  # measured, shown, not trusted
    assert status.status == "warn"


# ---- skew ----------------------------------------------------------------------------------------
SKEW_FEATURES = ("events_7d", "revenue_7d")


def _log_lookups(
    settings: Settings,
    monitored: Monitored,
    served: dict[int, tuple[dt.datetime, float]],
    at: dt.datetime | None = None,
) -> None:
    """Log churn_v1 lookups as the API would: user -> (served snapshot, events_7d served)."""
    table = pd.read_parquet(settings.features_dir / "user_activity")
    table = table.set_index(["user_id", "event_timestamp"])
    users = sorted(served)
    values: list[list[object]] = [[], []]
    timestamps: list[list[str]] = [[], []]
    for user in users:
        snapshot, events_7d = served[user]
        row = table.loc[(user, pd.Timestamp(snapshot))]
        values[0].append(events_7d)
        values[1].append(float(row["revenue_7d"]))
        for column in timestamps:
            column.append(snapshot.strftime("%Y-%m-%dT%H:%M:%SZ"))
    logger = ServingLogger(settings.serving_logs_dir, rate=1.0)
    logger.record(
        feature_service="churn_v1",
        feature_refs=[],
        entities={"user_id": users},
        request_time=at or monitored.now,
        feature_names=["user_id", *SKEW_FEATURES],
        values=[users, *values],
        statuses=[["PRESENT"] * len(users)] * 3,
        event_timestamps=[[], *timestamps],
    )
    logger.flush()


def _true_events_7d(settings: Settings, user: int, at: dt.datetime) -> int:
    table = pd.read_parquet(settings.features_dir / "user_activity")
    row = table[(table["user_id"] == user) & (table["event_timestamp"] == pd.Timestamp(at))]
    return int(row["events_7d"].iloc[0])


def test_served_values_equal_to_offline_are_ok(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")
    last = monitored.last
    _log_lookups(
        settings, monitored, {u: (last, _true_events_7d(settings, u, last)) for u in range(1, 41)}
    )
    status = compute_status(settings, now=monitored.now)
    skew = status.views["user_activity"].features["events_7d"].skew
    assert skew is not None and (skew.rows, skew.stale, skew.wrong) == (40, 0, 0)
    assert status.status == "ok"
    assert status.skew.lookups == 40


def test_served_value_differing_from_offline_is_wrong(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")
    last = monitored.last
    served = {u: (last, _true_events_7d(settings, u, last)) for u in range(1, 41)}
    served[7] = (last, served[7][1] + 1)  # same snapshot, another value
    _log_lookups(settings, monitored, served)

    status = compute_status(settings, now=monitored.now)

    events = status.views["user_activity"].features["events_7d"]
    assert events.skew is not None
    assert (events.skew.stale_rate, events.skew.wrong_rate) == (0.0, 1 / 40)
    assert events.status == "error"
    assert status.views["user_activity"].features["revenue_7d"].skew.wrong == 0  # type: ignore[union-attr]
    assert status.status == "error"
    body = status.to_json()["feature_views"]["user_activity"]["features"]["events_7d"]
    assert body["skew"] == {"stale_rate": 0.0, "wrong_rate": 0.025}


def test_values_served_past_the_coverage_with_ttl_off_are_not_wrong(
    monitored: Monitored, tmp_path: Path
) -> None:
    """With PITSTOP_ONLINE_TTL=off the API serves a view's last values past its table's
    coverage; the offline path answers null there, and every such value counted as wrong (one
    was enough to make the status error). They are not comparable: counted as unchecked."""
    from pitstop import coverage
    from pitstop.feast_adapter import repo

    settings = copy_of(monitored, tmp_path / "data")
    repo.apply(settings, echo=None)  # the copy's registry names its own tables ...
    last = monitored.last
    # ... whose coverage ends at the last snapshot; the lookups come 30 days later
    coverage.write(settings.features_dir, last, ["user_activity", "user_profile"])
    late = monitored.now + dt.timedelta(days=30)
    served = {u: (last, _true_events_7d(settings, u, last)) for u in range(1, 41)}
    _log_lookups(settings, monitored, served, at=late)

    status = compute_status(settings, now=late + dt.timedelta(hours=1))

    events = status.views["user_activity"].features["events_7d"]
    assert events.skew is None or (events.skew.wrong, events.skew.stale) == (0, 0)
    assert status.skew.unchecked == 40 * len(SKEW_FEATURES)
    assert status.skew.lookups == 40


def test_stale_online_value(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")
    last, before = monitored.last, monitored.last - dt.timedelta(days=1)
    served = {u: (last, _true_events_7d(settings, u, last)) for u in range(1, 41)}
    # Two users served yesterday's snapshot (materialize lagged), values that differ from today's.
    stale = [
        u
        for u in range(1, 41)
        if _true_events_7d(settings, u, before) != _true_events_7d(settings, u, last)
    ][:2]
    for user in stale:
        served[user] = (before, _true_events_7d(settings, user, before))
    _log_lookups(settings, monitored, served)

    status = compute_status(settings, now=monitored.now)

    events = status.views["user_activity"].features["events_7d"]
    assert events.skew is not None
    assert (events.skew.stale, events.skew.wrong) == (2, 0)
    assert events.skew.status == "warn"  # 5 % stale: the store lags, values are right for it
    assert status.status == "warn"


def test_monitoring_follows_the_registry_not_the_baseline(
    monitored: Monitored, tmp_path: Path
) -> None:
    """A feature the baseline lacks (added since) is monitored at once, as insufficient_data;
    one the registry no longer has (removed since) leaves."""
    settings = copy_of(monitored, tmp_path / "declared")
    baseline = json.loads(settings.baseline_path.read_text())
    del baseline["views"]["user_activity"]["features"]["events_7d"]
    del baseline["features"]["user_activity"]["events_7d"]
    baseline["views"]["user_activity"]["features"]["removed_7d"] = "Int64"
    baseline["features"]["user_activity"]["removed_7d"] = baseline["features"]["user_activity"][
        "events_30d"
    ]
    settings.baseline_path.write_text(json.dumps(baseline))

    features = compute_status(settings, now=monitored.now).to_json()["feature_views"][
        "user_activity"
    ]["features"]

    assert features["events_7d"]["drift"] == {"psi": None, "status": "insufficient_data"}
    assert features["events_7d"]["null_rate"] == 0.0
    assert "removed_7d" not in features
    assert features["events_30d"]["drift"]["status"] == "ok"
