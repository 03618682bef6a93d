"""Feature views over the dbt marts. Names and meanings are docs/architecture.md §3's contract.

Each view's schema is its mart's dbt contract (dbt_contract.py): a feature is declared once,
in transformations/models/marts/_marts__models.yml, with its type and description.

ttl: the feature tables are sparse snapshots with a keep-alive row for every entity every
Monday (transformations/README.md), so inside the data an entity's latest row is never more
than 7 days old. Serving adds the time until the next daily run publishes (1 day) and a day of
slack for a late run: 9 days. A value older than that means the pipeline has stopped, not that
the user went quiet; a silent user's true zeros are always younger.
"""

from datetime import timedelta

from feast import FeatureView

from data_sources import item_popularity_source, user_activity_push, user_profile_source
from dbt_contract import feature_fields
from entities import item, user

SNAPSHOT_TTL = timedelta(days=9)

user_activity = FeatureView(
    name="user_activity",
    description="Windowed activity counts per user; an N-day window is T - N days <= ts < T.",
    entities=[user],
    ttl=SNAPSHOT_TTL,
    schema=feature_fields("user_activity", ("user_id",)),
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
    schema=feature_fields("user_profile", ("user_id",)),
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
    schema=feature_fields("item_popularity", ("item_id",)),
    source=item_popularity_source,
    online=True,
    owner="pitstop",
    tags={"layer": "mart", "snapshot": "daily-sparse"},
)
