"""A stock Feast client (`online_store: {type: remote}`) against pitstop's API.

The client is plain Feast 0.67: a RepoConfig on the same project and registry whose online
store is the running API. It must read what Feast reads from the SQLite store directly.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest

from pitstop.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

REQUEST_TIME = dt.datetime(2026, 4, 21, 6, 30, tzinfo=dt.timezone.utc)
USERS = [*range(1, 11), 424242]
ITEMS = [[100, 101, 102, 999][row % 4] for row in range(len(USERS))]


@pytest.fixture(scope="module")
def remote_store(api_url: str, trap_store: Settings, local_store: FeatureStore) -> FeatureStore:
    from feast import FeatureStore, RepoConfig

    config = RepoConfig(
        project=local_store.project,
        provider="local",
        registry=str(trap_store.registry_path),
        online_store={"type": "remote", "path": api_url},
        entity_key_serialization_version=3,
    )
    return FeatureStore(config=config)


def _comparable(answer: dict[str, list[Any]]) -> dict[str, list[Any]]:
    # The wire carries UnixTimestamp values as epoch seconds; the remote client does not turn
    # them back into datetimes, Feast's local read does.
    return {
        name: [int(v.timestamp()) if isinstance(v, dt.datetime) else v for v in values]
        for name, values in answer.items()
    }


@pytest.mark.parametrize(
    ("service", "entities"),
    [
        ("churn_v1", {"user_id": USERS}),
        ("ranking_v1", {"user_id": USERS, "item_id": ITEMS}),
    ],
)
def test_remote_client_reads_what_feast_reads(
    remote_store: FeatureStore,
    local_store: FeatureStore,
    service: str,
    entities: dict[str, list[int]],
) -> None:
    remote_rows, local_rows = dict(entities), dict(entities)
    if service == "churn_v1":
        # JSON carries the request time as epoch seconds; Feast locally takes datetimes.
        remote_rows["request_time"] = [int(REQUEST_TIME.timestamp())] * len(USERS)
        local_rows["request_time"] = [REQUEST_TIME] * len(USERS)  # type: ignore[list-item]
    remote = remote_store.get_online_features(
        features=remote_store.get_feature_service(service), entity_rows=remote_rows
    ).to_dict()
    local = local_store.get_online_features(
        features=local_store.get_feature_service(service), entity_rows=local_rows
    ).to_dict()
    assert _comparable(remote) == _comparable(local)
    assert remote["user_id"] == USERS
    assert remote["events_30d"][USERS.index(424242)] is None


def test_remote_client_with_feature_refs_and_full_names(
    remote_store: FeatureStore, local_store: FeatureStore
) -> None:
    refs = ["user_activity:events_7d", "item_popularity:item_views_7d"]
    rows = [{"user_id": user, "item_id": item} for user, item in zip(USERS, ITEMS, strict=True)]
    remote = remote_store.get_online_features(
        features=refs, entity_rows=rows, full_feature_names=True
    ).to_dict()
    local = local_store.get_online_features(
        features=refs, entity_rows=rows, full_feature_names=True
    ).to_dict()
    assert remote == local
    assert set(remote) == {
        "user_id",
        "item_id",
        "user_activity__events_7d",
        "item_popularity__item_views_7d",
    }
