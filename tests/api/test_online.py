"""POST /get-online-features through a real server: the same answers as Feast itself.

Reference answers come from Feast's ``FeatureStore.get_online_features`` on the same data
folder in the test process, and from the latest snapshot rows of the Parquet feature tables.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import TYPE_CHECKING, Any

import duckdb
import httpx
import pytest

if TYPE_CHECKING:
    from feast import FeatureStore

UTC = dt.timezone.utc
REQUEST_TIME = dt.datetime(2026, 4, 21, 6, 30, tzinfo=UTC)
# The trap users (8 never appears in the log) and one nobody has heard of.
USERS = [*range(1, 11), 424242]
ITEMS = [[100, 101, 102, 999][row % 4] for row in range(len(USERS))]
NULL_TIMESTAMP = -9223372036854775808  # Feast's int64 NaT, leaked by its own server
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
STATUSES = {"PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE", "INVALID"}

Columns = dict[str, dict[str, list[Any]]]

LOOKUPS: dict[str, dict[str, Any]] = {
    "churn_v1": {"feature_service": "churn_v1", "entities": {"user_id": USERS}},
    "ranking_v1": {
        "feature_service": "ranking_v1",
        "entities": {"user_id": USERS, "item_id": ITEMS},
    },
    "user features": {
        "features": [
            "user_activity:events_7d",
            "user_activity:revenue_30d",
            "user_activity:avg_order_value_30d",
            "user_profile:last_purchase_at",
            "user_profile:lifetime_revenue",
        ],
        "entities": {"user_id": USERS},
    },
    "item features, full names": {
        "features": [
            "item_popularity:item_conversion_rate_7d",
            "item_popularity:item_views_7d",
            "user_activity:events_30d",
        ],
        "entities": {"user_id": USERS, "item_id": ITEMS},
        "full_feature_names": True,
    },
    "on-demand only": {
        "features": ["user_recency:days_since_first_seen", "user_recency:hours_since_last_event"],
        "entities": {"user_id": USERS},
    },
}
NEEDS_REQUEST_TIME = {"churn_v1", "on-demand only"}


def _post(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/get-online-features", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    result: dict[str, Any] = response.json()
    return result


def _by_name(body: dict[str, Any]) -> Columns:
    names = body["metadata"]["feature_names"]
    assert len(names) == len(body["results"])
    return {name: column for name, column in zip(names, body["results"], strict=True)}


def _feast_answer(store: FeatureStore, body: dict[str, Any]) -> tuple[dict[str, Any], Columns]:
    """Feast's to_dict() and its feature server's JSON for the same lookup."""
    from feast.feature_server_utils import convert_response_to_dict

    features = (
        store.get_feature_service(body["feature_service"])
        if "feature_service" in body
        else body["features"]
    )
    response = store.get_online_features(
        features=features,
        entity_rows=body["entities"],
        full_feature_names=body.get("full_feature_names", False),
    )
    wire = _by_name(convert_response_to_dict(response.proto))
    # The one deliberate difference in statuses (api/lookup.py): an on-demand output computed
    # for an entity the store has no row of is NOT_FOUND, where Feast says PRESENT (null value).
    on_demand = {
        name
        for view in store.list_on_demand_feature_views()
        for feature in view.features
        for name in (feature.name, f"{view.name}__{feature.name}")
    }
    for name in on_demand & set(wire):
        column = wire[name]
        column["statuses"] = [
            "NOT_FOUND" if status == "PRESENT" and value is None else status
            for status, value in zip(column["statuses"], column["values"], strict=True)
        ]
    return response.to_dict(), wire


def _epoch_seconds(value: Any) -> Any:
    return int(value.timestamp()) if isinstance(value, dt.datetime) else value


@pytest.mark.parametrize("case", LOOKUPS)
def test_answers_equal_feasts_own(api: httpx.Client, local_store: FeatureStore, case: str) -> None:
    body = LOOKUPS[case]
    local_body = body
    if case in NEEDS_REQUEST_TIME:
        rows = len(USERS)
        body = {
            **body,
            "entities": {**body["entities"], "request_time": [REQUEST_TIME.timestamp()] * rows},
        }
        local_body = {
            **body,
            "entities": {**body["entities"], "request_time": [REQUEST_TIME] * rows},
        }
    answer = _post(api, body)
    expected_dict, expected_wire = _feast_answer(local_store, local_body)
    got = _by_name(answer)

    assert set(got) == set(expected_wire) == set(expected_dict)
    for name, column in got.items():
        feast_column = expected_wire[name]
        # Feast's server sends a null timestamp as its NaT sentinel; pitstop sends null.
        feast_values = [None if v == NULL_TIMESTAMP else v for v in feast_column["values"]]
        assert column["values"] == feast_values, name
        assert column["statuses"] == feast_column["statuses"], name
        assert column["event_timestamps"] == feast_column["event_timestamps"], name
        assert column["values"] == [_epoch_seconds(v) for v in expected_dict[name]], name


@pytest.mark.parametrize("case", LOOKUPS)
def test_wire_format_is_feasts(api: httpx.Client, case: str) -> None:
    body = LOOKUPS[case]
    answer = _post(api, body)
    assert set(answer) == {"metadata", "results"}
    names = answer["metadata"]["feature_names"]
    join_keys = list(body["entities"])
    assert names[: len(join_keys)] == join_keys
    for column in answer["results"]:
        assert set(column) == {"values", "statuses", "event_timestamps"}
        assert len(column["values"]) == len(column["statuses"]) == len(USERS)
        assert len(column["event_timestamps"]) == len(USERS)
        assert set(column["statuses"]) <= STATUSES
        assert all(RFC3339_UTC.match(stamp) for stamp in column["event_timestamps"])


def test_features_come_in_the_order_asked_for(api: httpx.Client) -> None:
    body = LOOKUPS["item features, full names"]
    names = _post(api, body)["metadata"]["feature_names"]
    assert names == ["user_id", "item_id"] + [ref.replace(":", "__") for ref in body["features"]]

    services = {service["name"]: service for service in api.get("/feature-services").json()}
    defined = [
        feature["name"]
        for view in services["churn_v1"]["feature_views"]
        for feature in view["features"]
    ]
    assert _post(api, LOOKUPS["churn_v1"])["metadata"]["feature_names"] == ["user_id", *defined]


def test_unknown_entities_are_null_and_not_found(api: httpx.Client) -> None:
    answer = _by_name(_post(api, LOOKUPS["ranking_v1"]))
    unknown_user = USERS.index(424242)
    never_seen_user = USERS.index(8)
    unknown_item = ITEMS.index(999)
    for name in ("events_7d", "revenue_30d", "lifetime_purchases", "last_event_at"):
        for row in (unknown_user, never_seen_user):
            assert answer[name]["values"][row] is None
            assert answer[name]["statuses"][row] == "NOT_FOUND"
        assert answer[name]["statuses"][0] == "PRESENT"
    for name in ("item_views_7d", "item_purchases_7d"):
        assert answer[name]["values"][unknown_item] is None
        assert answer[name]["statuses"][unknown_item] == "NOT_FOUND"
    # The join keys echo what was asked, found or not (Feast's behaviour).
    assert answer["user_id"]["values"] == USERS
    assert answer["user_id"]["statuses"] == ["PRESENT"] * len(USERS)


def test_values_are_the_latest_snapshot_rows(
    api: httpx.Client, features: duckdb.DuckDBPyConnection
) -> None:
    answer = _by_name(_post(api, LOOKUPS["ranking_v1"]))
    for table, key, keys, known in (
        ("user_activity", "user_id", USERS, {1, 2, 3, 4, 5, 6, 7, 9, 10, 11}),
        ("user_profile", "user_id", USERS, {1, 2, 3, 4, 5, 6, 7, 9, 10, 11}),
        ("item_popularity", "item_id", ITEMS, {100, 101, 102}),
    ):
        cursor = features.execute(
            f"select * from {table} "
            f"qualify row_number() over (partition by {key} order by event_timestamp desc) = 1"
        )
        columns = [column[0] for column in cursor.description]
        latest = {
            row[columns.index(key)]: dict(zip(columns, row, strict=True))
            for row in cursor.fetchall()
        }
        assert set(latest) == known
        feature_columns = [
            c for c in columns if c not in (key, "event_timestamp", "created_timestamp")
        ]
        for row, entity in enumerate(keys):
            snapshot = latest.get(entity)
            for name in feature_columns:
                got = answer[name]["values"][row]
                if snapshot is None:
                    assert got is None and answer[name]["statuses"][row] == "NOT_FOUND"
                    continue
                want = snapshot[name]
                if isinstance(want, dt.datetime):
                    want = math.floor(want.timestamp())  # Feast keeps whole seconds
                if isinstance(want, float) and math.isnan(want):
                    want = None
                assert got == want, (table, entity, name)
            if snapshot is not None:
                stamp = snapshot["event_timestamp"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                assert answer[feature_columns[0]]["event_timestamps"][row] == stamp


def test_user_4_bought_twice_once_counted(api: httpx.Client) -> None:
    # The purchase delivered three times counts once: lifetime 1 purchase of 2 x 12.5.
    answer = _by_name(
        _post(
            api,
            {
                "features": ["user_profile:lifetime_purchases", "user_profile:lifetime_revenue"],
                "entities": {"user_id": [4]},
            },
        )
    )
    assert answer["lifetime_purchases"]["values"] == [1]
    assert answer["lifetime_revenue"]["values"] == [25.0]


def test_request_time_as_iso_string_or_epoch_seconds(api: httpx.Client) -> None:
    refs = ["user_recency:hours_since_last_event", "user_recency:days_since_first_seen"]
    as_iso = [
        "2026-04-21T06:30:00Z",
        "2026-04-21T08:30:00+02:00",
        "2026-04-21T06:30:00",  # no offset: UTC
    ]
    by_iso = _post(
        api, {"features": refs, "entities": {"user_id": [1, 1, 1], "request_time": as_iso}}
    )
    by_epoch = _post(
        api,
        {
            "features": refs,
            "entities": {"user_id": [1, 1, 1], "request_time": [REQUEST_TIME.timestamp()] * 3},
        },
    )
    assert by_iso == by_epoch
    hours = _by_name(by_iso)["hours_since_last_event"]["values"]
    # user 1's latest event: 2026-03-10T23:59:59.999Z, kept as 23:59:59
    last_event = dt.datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC)
    assert hours == [pytest.approx((REQUEST_TIME - last_event).total_seconds() / 3600)] * 3


def test_request_time_defaults_to_now(api: httpx.Client) -> None:
    refs = ["user_profile:last_event_at", "user_recency:hours_since_last_event"]
    before = dt.datetime.now(UTC).replace(microsecond=0)  # request times are whole seconds
    answer = _by_name(_post(api, {"features": refs, "entities": {"user_id": [2, 424242]}}))
    after = dt.datetime.now(UTC)
    last_event = dt.datetime.fromtimestamp(answer["last_event_at"]["values"][0], UTC)
    hours = answer["hours_since_last_event"]["values"][0]
    earliest = (before - last_event).total_seconds() / 3600
    latest = (after - last_event).total_seconds() / 3600
    assert earliest - 1e-6 <= hours <= latest + 1e-6
    # An unknown user has no recency: not found, as its input (Feast says PRESENT even then).
    assert answer["hours_since_last_event"]["values"][1] is None
    assert answer["hours_since_last_event"]["statuses"] == ["PRESENT", "NOT_FOUND"]
    assert answer["last_event_at"]["statuses"] == ["PRESENT", "NOT_FOUND"]


def test_feature_view_version_metadata_on_request(
    api: httpx.Client, local_store: FeatureStore
) -> None:
    from feast.feature_server_utils import convert_response_to_dict

    refs = ["user_activity:events_7d", "item_popularity:item_views_7d"]
    entities = {"user_id": [1], "item_id": [100]}
    answer = _post(
        api,
        {"features": refs, "entities": entities, "include_feature_view_version_metadata": True},
    )
    feast = local_store.get_online_features(
        features=refs, entity_rows=entities, include_feature_view_version_metadata=True
    )
    expected = convert_response_to_dict(feast.proto)["metadata"]["feature_view_metadata"]
    assert answer["metadata"]["feature_view_metadata"] == expected
    assert {entry["name"] for entry in expected} == {"user_activity", "item_popularity"}
    assert (
        "feature_view_metadata"
        not in _post(api, {"features": refs, "entities": entities})["metadata"]
    )
