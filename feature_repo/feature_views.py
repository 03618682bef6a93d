"""Feature views over the dbt marts. Names and meanings are docs/architecture.md §3's contract.

Each view's schema is its mart's dbt contract (dbt_contract.py): a feature is declared once,
in transformations/models/marts/_marts__models.yml, with its type and description.

No ttl: the feature tables are sparse snapshots with a row wherever a value changes (a day's
events enter the windows at d + 1 and leave the N-day window at d + N + 1), so inside the data
the latest row is right however old it is; a silent user's true zeros are rows of their own.
Staleness is a property of the table instead: pitstop's offline store and API treat a view as
stale past its table's coverage plus two daily intervals (docs/architecture.md §3,
"Staleness"). Feast's own stores, which know no coverage, give the same answers inside it.
"""

from feast import FeatureView

from data_sources import item_popularity_source, user_activity_push, user_profile_source
from dbt_contract import feature_fields
from entities import item, user

user_activity = FeatureView(
    name="user_activity",
    description="Windowed activity counts per user; an N-day window is T - N days <= ts < T.",
    entities=[user],
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
    schema=feature_fields("item_popularity", ("item_id",)),
    source=item_popularity_source,
    online=True,
    owner="pitstop",
    tags={"layer": "mart", "snapshot": "daily-sparse"},
)
