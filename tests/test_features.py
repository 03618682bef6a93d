"""Point-in-time rules, checked in the Parquet feature tables built from tests/trap_log.py.

Every lookup here is Feast's rule: the latest snapshot row with event_timestamp <= the lookup
time. Each test names the trap it guards against.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pitstop.build.run import BuildReport
from pitstop.settings import Settings
from tests.conftest import Lookup


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_event_at_midnight_belongs_to_the_day_it_starts(lookup: Lookup) -> None:
    # user 1: events at 03-10 00:00:00 and 23:59:59.999; both are in the day 03-10
    assert lookup("user_activity", 1, "2026-03-10T12:00:00Z") is None  # never seen before T
    at_t = lookup("user_activity", 1, "2026-03-11T00:00:00Z")
    assert at_t is not None and at_t["events_1d"] == 2
    assert lookup("user_activity", 1, "2026-03-11T23:59:59Z")["events_1d"] == 2  # type: ignore[index]
    assert lookup("user_activity", 1, "2026-03-12T00:00:00Z")["events_1d"] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("at", "events_1d", "events_7d", "events_30d", "days_active_30d"),
    [
        ("2026-03-02T00:00:00Z", 1, 1, 1, 1),
        ("2026-03-02T23:59:59Z", 1, 1, 1, 1),
        ("2026-03-03T00:00:00Z", 0, 1, 1, 1),
        ("2026-03-08T23:59:59Z", 0, 1, 1, 1),  # T - 7 days = 03-01 00:00 <= ts
        ("2026-03-09T00:00:00Z", 0, 0, 1, 1),
        ("2026-03-31T23:59:59Z", 0, 0, 1, 1),  # T - 30 days = 03-01 00:00 <= ts
        ("2026-04-01T00:00:00Z", 0, 0, 0, 0),
    ],
)
def test_window_edges(
    lookup: Lookup, at: str, events_1d: int, events_7d: int, events_30d: int, days_active_30d: int
) -> None:
    # user 2: one page view on 03-01 12:00 UTC
    row = lookup("user_activity", 2, at)
    assert row is not None
    assert (row["events_1d"], row["events_7d"], row["events_30d"], row["days_active_30d"]) == (
        events_1d,
        events_7d,
        events_30d,
        days_active_30d,
    )


def test_silent_user_has_zeros_not_missing_values_and_a_recent_row(lookup: Lookup) -> None:
    # user 2 has been silent for 50 days at 04-20
    at = "2026-04-20T12:00:00Z"
    row = lookup("user_activity", 2, at)
    assert row is not None
    assert row["events_30d"] == 0 and row["purchases_30d"] == 0 and row["sessions_7d"] == 0
    assert row["revenue_7d"] == 0.0 and row["revenue_30d"] == 0.0
    assert row["avg_order_value_30d"] is None  # a ratio with nothing under it is undefined
    # no keep-alive rows: the latest row is the 30-day window's exit, 19 days before the lookup
    assert row["event_timestamp"] == _utc("2026-04-01T00:00:00Z")


def test_no_row_after_the_data_coverage(features: duckdb.DuckDBPyConnection) -> None:
    newest = features.execute(
        "select max(event_timestamp) from (select event_timestamp from user_activity "
        "union all select event_timestamp from item_popularity "
        "union all select event_timestamp from user_profile)"
    ).fetchone()[0]
    assert newest == _utc("2026-04-21T00:00:00Z")


def test_a_silent_entity_has_rows_only_where_a_value_changes(
    features: duckdb.DuckDBPyConnection,
) -> None:
    """User 2's one page view of 03-01 enters the windows at 03-02 and leaves the 1-, 7- and
    30-day windows at 03-03, 03-09 and 04-01; its lifetime profile changes once. Nothing else:
    no keep-alive rows, though the data reaches 04-21 (docs/architecture.md §3)."""
    activity = features.execute(
        "select strftime(event_timestamp, '%m-%d') from user_activity "
        "where user_id = 2 order by event_timestamp"
    ).fetchall()
    assert [day for (day,) in activity] == ["03-02", "03-03", "03-09", "04-01"]
    profile = features.execute(
        "select strftime(event_timestamp, '%m-%d') from user_profile where user_id = 2"
    ).fetchall()
    assert [day for (day,) in profile] == ["03-02"]


def test_late_event_changes_the_snapshots_of_its_own_day(lookup: Lookup) -> None:
    # user 3: an event on 03-04 on time, and one of 03-05 that arrived on 03-09
    on_time = lookup("user_activity", 3, "2026-03-05T06:00:00Z")
    assert on_time is not None and on_time["events_1d"] == 1
    assert on_time["created_timestamp"] == _utc("2026-03-05T00:00:00Z")
    late = lookup("user_activity", 3, "2026-03-06T06:00:00Z")
    assert late is not None and late["events_1d"] == 1 and late["events_7d"] == 2
    # the value could only be known once the 03-09 partition was complete
    assert late["created_timestamp"] == _utc("2026-03-10T00:00:00Z")


def test_duplicate_delivery_counts_once(lookup: Lookup) -> None:
    # user 4: one purchase (12.5 x 2) delivered twice on 03-12 and again on 03-14
    for at in ("2026-03-13T00:00:00Z", "2026-03-15T00:00:00Z"):
        row = lookup("user_activity", 4, at)
        assert row is not None
        assert (row["events_7d"], row["purchases_7d"], row["revenue_7d"]) == (1, 1, 25.0)
    profile = lookup("user_profile", 4, "2026-04-01T00:00:00Z")
    assert profile is not None and profile["lifetime_purchases"] == 1
    assert profile["lifetime_revenue"] == 25.0


def test_utc_offsets_crossing_midnight(lookup: Lookup) -> None:
    # user 5: 03-15T23:30-02:00 is 03-16 01:30 UTC; 03-16T00:30+02:00 is 03-15 22:30 UTC
    first = lookup("user_activity", 5, "2026-03-16T00:00:00Z")
    assert first is not None and first["events_1d"] == 1
    second = lookup("user_activity", 5, "2026-03-17T00:00:00Z")
    assert second is not None and (second["events_1d"], second["events_7d"]) == (1, 2)
    profile = lookup("user_profile", 5, "2026-03-17T00:00:00Z")
    assert profile is not None
    assert profile["first_seen_at"] == _utc("2026-03-15T22:30:00Z")
    assert profile["last_event_at"] == _utc("2026-03-16T01:30:00Z")


def test_timestamp_without_offset_is_utc(lookup: Lookup) -> None:
    # user 5: 2026-03-18T23:59:00 (no offset) is a 03-18 event
    row = lookup("user_activity", 5, "2026-03-19T00:00:00Z")
    assert row is not None and row["events_1d"] == 1
    profile = lookup("user_profile", 5, "2026-03-19T00:00:00Z")
    assert profile is not None and profile["last_event_at"] == _utc("2026-03-18T23:59:00Z")


def test_refunds_count_as_events_but_do_not_reduce_revenue(lookup: Lookup) -> None:
    # user 6: purchase 10 x 2 on 03-20, refund 10 x 1 on 03-21
    row = lookup("user_activity", 6, "2026-03-22T00:00:00Z")
    assert row is not None
    assert (row["events_7d"], row["purchases_7d"], row["revenue_7d"]) == (2, 1, 20.0)
    assert row["avg_order_value_30d"] == 20.0
    profile = lookup("user_profile", 6, "2026-03-22T00:00:00Z")
    assert profile is not None
    assert (profile["lifetime_purchases"], profile["lifetime_revenue"]) == (1, 20.0)
    assert profile["last_purchase_at"] == _utc("2026-03-20T10:00:00Z")


def test_no_purchase_yet_means_null_last_purchase(lookup: Lookup) -> None:
    profile = lookup("user_profile", 2, "2026-03-02T00:00:00Z")
    assert profile is not None
    assert profile["last_purchase_at"] is None and profile["lifetime_revenue"] == 0.0


@pytest.mark.parametrize(
    ("at", "sessions"),
    [
        ("2026-03-04T00:00:00Z", 1),
        ("2026-03-05T00:00:00Z", 2),  # s7 crosses midnight: still one session
        ("2026-03-11T00:00:00Z", 2),  # T - 7 days = 03-04: both sessions have an event then
        ("2026-03-12T00:00:00Z", 0),
    ],
)
def test_distinct_sessions_across_midnight(lookup: Lookup, at: str, sessions: int) -> None:
    row = lookup("user_activity", 7, at)
    assert row is not None and row["sessions_7d"] == sessions


def test_item_popularity(lookup: Lookup) -> None:
    row = lookup("item_popularity", 100, "2026-03-02T00:00:00Z")
    assert row is not None
    assert (row["item_views_7d"], row["item_add_to_carts_7d"], row["item_purchases_7d"]) == (
        2,
        1,
        1,
    )
    assert (row["item_revenue_7d"], row["item_conversion_rate_7d"]) == (5.0, 0.5)
    later = lookup("item_popularity", 100, "2026-03-09T00:00:00Z")
    assert later is not None and later["item_views_7d"] == 0
    assert later["item_conversion_rate_7d"] is None
    assert lookup("item_popularity", 100, "2026-03-01T23:00:00Z") is None


def test_a_page_view_without_an_item_counts_for_the_user_and_no_item(
    lookup: Lookup, features: duckdb.DuckDBPyConnection
) -> None:
    row = lookup("user_activity", 11, "2026-03-04T00:00:00Z")
    assert row is not None
    assert (row["events_1d"], row["page_views_7d"], row["add_to_carts_7d"]) == (1, 1, 0)
    items = features.execute("select distinct item_id from item_popularity order by 1").fetchall()
    assert items == [(100,), (101,), (102,)]


def test_churn_labels(features: duckdb.DuckDBPyConnection) -> None:
    def label(user_id: int, day: str) -> object:
        rows = features.execute(
            "select churned_30d from churn_labels "
            "where user_id = ? and event_timestamp = ?::timestamptz",
            [user_id, day],
        ).fetchall()
        assert len(rows) == 1, (user_id, day, rows)
        return rows[0][0]

    assert label(2, "2026-03-02T00:00:00Z") is True  # silent after 03-01
    assert label(10, "2026-03-02T00:00:00Z") is False  # back on 03-20
    assert label(9, "2026-04-16T00:00:00Z") is None  # data ends before 05-16


def test_feature_tables_carry_utc_timestamps_and_feast_types(
    trap_build: tuple[Settings, BuildReport],
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    settings, _ = trap_build
    schema = pq.read_schema(settings.features_dir / "user_activity" / "_schema.parquet")
    assert schema.field("user_id").type == pa.int64()
    assert schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("created_timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("events_7d").type == pa.int64()
    assert schema.field("revenue_7d").type == pa.float64()
