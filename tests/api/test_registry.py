"""GET /feature-views, /feature-services and /health on the running API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from feast import FeatureStore


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def test_health(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_feature_views(api: httpx.Client) -> None:
    views = _by_name(api.get("/feature-views").json())
    assert set(views) == {"user_activity", "user_profile", "item_popularity", "user_recency"}
    for name, key in (
        ("user_activity", "user_id"),
        ("user_profile", "user_id"),
        ("item_popularity", "item_id"),
    ):
        view = views[name]
        assert view["kind"] == "batch"
        assert view["ttl_seconds"] is None  # staleness is the table's coverage
        assert view["join_keys"] == [key]
        assert view["entities"] == [key.removesuffix("_id")]
        assert view["online"] is True
        assert view["description"]
        assert view["tags"] == {"layer": "mart", "snapshot": "daily-sparse"}
        assert all(feature["description"] for feature in view["features"])

    dtypes = {
        (view["name"], feature["name"]): feature["dtype"]
        for view in views.values()
        for feature in view["features"]
    }
    assert dtypes["user_activity", "events_7d"] == "Int64"
    assert dtypes["user_activity", "revenue_7d"] == "Float64"
    assert dtypes["user_activity", "avg_order_value_30d"] == "Float64"
    assert dtypes["user_profile", "last_event_at"] == "UnixTimestamp"
    assert dtypes["item_popularity", "item_conversion_rate_7d"] == "Float64"
    assert dtypes["user_recency", "hours_since_last_event"] == "Float64"

    recency = views["user_recency"]
    assert recency["kind"] == "on_demand"
    assert recency["ttl_seconds"] is None
    assert recency["join_keys"] == ["user_id"]
    assert recency["entities"] == []
    assert [(f["name"], f["dtype"]) for f in recency["request_fields"]] == [
        ("request_time", "UnixTimestamp")
    ]


def test_feature_views_match_the_registry(api: httpx.Client, local_store: FeatureStore) -> None:
    views = _by_name(api.get("/feature-views").json())
    registry = [*local_store.list_feature_views(), *local_store.list_on_demand_feature_views()]
    assert set(views) == {view.name for view in registry}
    for view in registry:
        assert [f["name"] for f in views[view.name]["features"]] == [f.name for f in view.features]
        assert views[view.name]["description"] == view.description


def test_feature_services(api: httpx.Client, local_store: FeatureStore) -> None:
    services = _by_name(api.get("/feature-services").json())
    assert set(services) == {"churn_v1", "ranking_v1"}

    churn = services["churn_v1"]
    assert churn["join_keys"] == ["user_id"]
    assert [view["name"] for view in churn["feature_views"]] == [
        "user_activity",
        "user_profile",
        "user_recency",
    ]
    assert [(f["name"], f["dtype"]) for f in churn["request_fields"]] == [
        ("request_time", "UnixTimestamp")
    ]
    assert churn["tags"] == {"model": "churn", "version": "1"}
    assert churn["description"]

    ranking = services["ranking_v1"]
    assert ranking["join_keys"] == ["user_id", "item_id"]
    assert [view["name"] for view in ranking["feature_views"]] == [
        "user_activity",
        "user_profile",
        "item_popularity",
    ]
    assert ranking["request_fields"] == []

    for name, service in services.items():
        feast_service = local_store.get_feature_service(name)
        assert {
            view["name"]: [(f["name"], f["dtype"]) for f in view["features"]]
            for view in service["feature_views"]
        } == {
            projection.name: [(f.name, str(f.dtype)) for f in projection.features]
            for projection in feast_service.feature_view_projections
        }
