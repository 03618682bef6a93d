"""pitstop's materializer writes what `feast materialize` writes: same bytes, same reads.

The same feature tables are materialized once by Feast (through pitstop's plugin) and once by
pitstop into separate stores; Feast's SDK reads both back (values, statuses, event timestamps)
and the stored rows (SQLite) or hashes (Redis) are compared byte for byte. Feast's own store
(its layout and code, not the plugin) materializes the same tables a third time and must
answer the same.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest
import redis
import yaml  # type: ignore[import-untyped,unused-ignore]

from pitstop.feast_adapter import repo
from pitstop.feast_adapter.config import feast_config, feasts_own_online_store
from pitstop.materialize import materialize
from pitstop.settings import FEATURE_REPO_DIR, Settings
from tests.materialize.conftest import ITEMS, USERS, Folder

if TYPE_CHECKING:
    from feast import FeatureStore

END = dt.datetime.now(dt.timezone.utc)  # every run materializes up to the same instant

VIEW_TABLES = ("pitstop__user_activity", "pitstop__user_profile", "pitstop__item_popularity")


def online_responses(
    settings: Settings, store: FeatureStore | None = None, *, unknown: bool = True
) -> list[Any]:
    """Feast's get_online_features for every user and item (and, with ``unknown``, one user
    and one item the tables do not have)."""
    store = store or repo.open_store(settings)
    extra = [10**9] if unknown else []
    users = [{"user_id": user} for user in [*range(1, USERS + 1), *extra]]
    items = [{"item_id": item} for item in [*range(1, ITEMS + 1), *extra]]
    user_features = [
        f"{view.name}:{field.name}"
        for view in store.list_feature_views()
        if view.name != "item_popularity"
        for field in view.features
    ]
    item_features = [
        f"item_popularity:{field.name}"
        for field in store.get_feature_view("item_popularity").features
    ]
    return [
        store.get_online_features(features=user_features, entity_rows=users).proto,
        store.get_online_features(features=item_features, entity_rows=items).proto,
    ]


def sqlite_rows(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(settings.online_store_path) as connection:
        return connection.execute(f"select * from {table} order by entity_key").fetchall()


def feasts_own_store(settings: Settings) -> FeatureStore:
    """A FeatureStore on ``settings``' registry with Feast's own online store of the same kind
    (its layout, its reader and writer), tables made and materialized by Feast."""
    from feast import FeatureStore

    config = feast_config(settings)
    config["online_store"] = feasts_own_online_store(settings, settings.data_dir / "feast.db")
    path = settings.data_dir / "feast_own.yaml"
    path.write_text(yaml.safe_dump(config))
    store = FeatureStore(repo_path=str(FEATURE_REPO_DIR), fs_yaml_file=path)
    repo.ensure_online_tables(store)
    store.materialize(dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), END)
    return store


def test_sqlite_equals_feast(folder: Folder) -> None:
    """Feast through the plugin writes what pitstop's materializer writes, and reads what
    Feast's own SQLite store (another layout, Feast's code) answers for the same tables."""
    with_feast, with_pitstop, stock = folder("feast"), folder("pitstop"), folder("stock")
    repo.materialize(with_feast, end=END)  # Feast's materialization, through the plugin
    report = materialize(with_pitstop, end=END)

    assert report.entities == {
        "user_activity": USERS,
        "user_profile": USERS,
        "item_popularity": ITEMS,
    }
    for table in VIEW_TABLES:
        expected = sqlite_rows(with_feast, table)
        assert len(expected) == (ITEMS if "item" in table else USERS), table
        assert sqlite_rows(with_pitstop, table) == expected, table
    answers = online_responses(with_pitstop)
    assert answers == online_responses(with_feast)
    # Feast's own SQLite store keeps event times to the whole second (its datetime adapter);
    # pitstop's layout to the microsecond, as Redis does: the same answers once truncated.
    assert any(
        stamp.nanos
        for answer in answers
        for row in answer.results
        for stamp in row.event_timestamps
    )
    assert [whole_seconds(answer) for answer in answers] == online_responses(
        stock, feasts_own_store(stock)
    )


def whole_seconds(answer: Any) -> Any:
    """The answer with each event time truncated to its second."""
    copy = type(answer)()
    copy.CopyFrom(answer)
    for row in copy.results:
        for stamp in row.event_timestamps:
            stamp.nanos = 0
    return copy


def redis_hashes(url: str) -> dict[bytes, dict[bytes, bytes]]:
    client = redis.Redis.from_url(url)
    keys = [key for key in client.scan_iter(count=1000) if not key.startswith(b"pitstop:")]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        return dict(zip(keys, pipe.execute(), strict=True))


def test_redis_equals_feast(folder: Folder, redis_urls: tuple[str, str, str]) -> None:
    """As on SQLite: Feast through the plugin writes pitstop's hashes byte for byte, and both
    answer what Feast's own Redis store (Feast's layout and code) answers, but for entities
    with no hash: Feast's own Redis reader then says PRESENT with a null value and a 1970
    timestamp, where the plugin and pitstop say NOT_FOUND (as on SQLite)."""
    with_feast = folder("feast", online_store="redis", redis_url=redis_urls[0])
    with_pitstop = folder("pitstop", online_store="redis", redis_url=redis_urls[1])
    stock = folder("stock", online_store="redis", redis_url=redis_urls[2])
    repo.materialize(with_feast)  # Feast's materialization, through the plugin
    report = materialize(with_pitstop)

    assert report.entities_written == 2 * USERS + ITEMS
    expected = redis_hashes(redis_urls[0])
    assert len(expected) == USERS + ITEMS
    assert redis_hashes(redis_urls[1]) == expected
    assert all(b"_ts:user_activity" not in fields for fields in expected.values())
    assert online_responses(with_pitstop) == online_responses(with_feast)
    assert online_responses(with_pitstop, unknown=False) == online_responses(
        stock, feasts_own_store(stock), unknown=False
    )


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_values_are_read_back(folder: Folder, request: pytest.FixtureRequest, store: str) -> None:
    """Not only equal to Feast: the values read back are the tables' latest rows."""
    import pyarrow.parquet as pq

    url = request.getfixturevalue("redis_urls")[0] if store == "redis" else "redis://unused"
    settings = folder("pitstop", online_store=store, redis_url=url)
    materialize(settings)
    table = pq.read_table(settings.features_dir / "user_activity").to_pandas()
    latest = table.sort_values("event_timestamp").groupby("user_id").tail(1).set_index("user_id")
    response = (
        repo.open_store(settings)
        .get_online_features(
            features=["user_activity:events_7d", "user_activity:avg_order_value_30d"],
            entity_rows=[{"user_id": 7}, {"user_id": 8}],
        )
        .to_dict()
    )
    assert response["events_7d"] == [
        int(latest.loc[7, "events_7d"]),
        int(latest.loc[8, "events_7d"]),
    ]
