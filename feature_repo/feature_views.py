"""Feature views over the dbt marts. Names and meanings are ARCHITECTURE §3's contract.

ttl: the feature tables are sparse snapshots with a keep-alive row for every entity every
Monday (transformations/README.md), so inside the data an entity's latest row is never more
than 7 days old. Serving adds the time until the next daily run publishes (1 day) and a day of
slack for a late run: 9 days. A value older than that means the pipeline has stopped, not that
the user went quiet; a silent user's true zeros are always younger.
"""

from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Float64, Int64, UnixTimestamp

from data_sources import item_popularity_source, user_activity_push, user_profile_source
from entities import item, user

SNAPSHOT_TTL = timedelta(days=9)

user_activity = FeatureView(
    name="user_activity",
    description="Windowed activity counts per user; an N-day window is T - N days <= ts < T.",
    entities=[user],
    ttl=SNAPSHOT_TTL,
    schema=[
        Field(name="events_1d", dtype=Int64, description="Events in the day before T."),
        Field(name="events_7d", dtype=Int64, description="Events in the 7 days before T."),
        Field(name="events_30d", dtype=Int64, description="Events in the 30 days before T."),
        Field(name="sessions_7d", dtype=Int64, description="Distinct sessions, 7 days."),
        Field(name="page_views_7d", dtype=Int64, description="Page views, 7 days."),
        Field(name="add_to_carts_7d", dtype=Int64, description="Add-to-carts, 7 days."),
        Field(name="purchases_7d", dtype=Int64, description="Purchases, 7 days."),
        Field(name="purchases_30d", dtype=Int64, description="Purchases, 30 days."),
        Field(name="revenue_7d", dtype=Float64, description="Sum of price x quantity, 7 days."),
        Field(name="revenue_30d", dtype=Float64, description="Sum of price x quantity, 30 days."),
        Field(
            name="avg_order_value_30d",
            dtype=Float64,
            description="revenue_30d / purchases_30d; null when there was no purchase.",
        ),
        Field(name="days_active_30d", dtype=Int64, description="Distinct active UTC days, 30 days."),
        Field(name="support_tickets_30d", dtype=Int64, description="Support tickets, 30 days."),
    ],
    # The push source lets a stream job write fresh rows online; batch reads use the dbt table.
    source=user_activity_push,
    online=True,
    owner="pitstop",
    tags={"layer": "mart", "snapshot": "daily-sparse"},
)

user_profile = FeatureView(
    name="user_profile",
    description="Lifetime facts per user as of T (events with ts < T).",
    entities=[user],
    ttl=SNAPSHOT_TTL,
    schema=[
        Field(name="first_seen_at", dtype=UnixTimestamp, description="First event before T."),
        Field(name="last_event_at", dtype=UnixTimestamp, description="Latest event before T."),
        Field(
            name="last_purchase_at",
            dtype=UnixTimestamp,
            description="Latest purchase before T; null when none.",
        ),
        Field(name="lifetime_purchases", dtype=Int64, description="Purchases before T."),
        Field(name="lifetime_revenue", dtype=Float64, description="Revenue before T."),
    ],
    source=user_profile_source,
    online=True,
    owner="pitstop",
    tags={"layer": "mart", "snapshot": "daily-sparse"},
)

item_popularity = FeatureView(
    name="item_popularity",
    description="7-day counts per item; the item_ prefix keeps names unique across views.",
    entities=[item],
    ttl=SNAPSHOT_TTL,
    schema=[
        Field(name="item_views_7d", dtype=Int64, description="Page views, 7 days."),
        Field(name="item_add_to_carts_7d", dtype=Int64, description="Add-to-carts, 7 days."),
        Field(name="item_purchases_7d", dtype=Int64, description="Purchases, 7 days."),
        Field(name="item_revenue_7d", dtype=Float64, description="Revenue, 7 days."),
        Field(
            name="item_conversion_rate_7d",
            dtype=Float64,
            description="item_purchases_7d / item_views_7d; null when there was no view.",
        ),
    ],
    source=item_popularity_source,
    online=True,
    owner="pitstop",
    tags={"layer": "mart", "snapshot": "daily-sparse"},
)
