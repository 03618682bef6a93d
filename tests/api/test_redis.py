"""The lookup API on Feast's Redis online store (the real server on 127.0.0.1:6379).

Feast materializes a copy of the trap data into a Redis database of its own; the answers of a
real pitstop server reading that database must equal Feast's ``get_online_features`` on the
same store, for every lookup of test_online.py. One documented difference: for an entity Redis
has no hash for, Feast's Redis reader answers PRESENT with a null value and a 1970 timestamp,
pitstop NOT_FOUND (as both do on SQLite).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis

from pitstop.feast_adapter import repo
from pitstop.settings import Settings
from tests.api.conftest import client_of_api
from tests.api.test_online import (
    LOOKUPS,
    NEEDS_REQUEST_TIME,
    NULL_TIMESTAMP,
    REQUEST_TIME,
    USERS,
    Columns,
    _by_name,
    _feast_answer,
    _post,
)

if TYPE_CHECKING:
    from feast import FeatureStore

REDIS_URL = "redis://127.0.0.1:6379/14"  # this module's own database, flushed at the start
UNKNOWN_ROWS = {USERS.index(8), USERS.index(424242)}  # users the trap log never had


@pytest.fixture(scope="module")
def on_redis(trap_store: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("redis")
    shutil.copy(trap_store.registry_path, folder / "registry.db")
    shutil.copytree(trap_store.features_dir, folder / "features")
    settings = dataclasses.replace(
        Settings.from_env(folder), online_store="redis", redis_url=REDIS_URL, online_ttl=False
    )
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # fails loudly when the server is missing: this test needs it
    client.flushdb()
    repo.materialize(settings)  # Feast's own materialization writes Redis
    assert client.dbsize() > 0
    return settings


@pytest.fixture(scope="module")
def redis_api(
    on_redis: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("redis-log") / "server.log"
    with client_of_api(on_redis, log, "redis") as client:
        yield client


@pytest.fixture(scope="module")
def feast_on_redis(on_redis: Settings) -> FeatureStore:
    store: FeatureStore = repo.open_store(on_redis)
    assert store.config.online_store.type == "redis"
    return store


@pytest.mark.parametrize("case", LOOKUPS)
def test_answers_equal_feasts_own_on_redis(
    redis_api: httpx.Client, feast_on_redis: FeatureStore, case: str
) -> None:
    body, local_body = lookup_bodies(case)
    assert_same_as_feast(_by_name(_post(redis_api, body)), feast_on_redis, local_body)


def lookup_bodies(case: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """LOOKUPS[case] as sent over HTTP and as handed to Feast's SDK (request_time added)."""
    body, local_body = LOOKUPS[case], LOOKUPS[case]
    if case in NEEDS_REQUEST_TIME:
        rows = len(body["entities"]["user_id"])
        body = {
            **body,
            "entities": {**body["entities"], "request_time": [REQUEST_TIME.timestamp()] * rows},
        }
        local_body = {
            **body,
            "entities": {**body["entities"], "request_time": [REQUEST_TIME] * rows},
        }
    return body, local_body


def assert_same_as_feast(got: Columns, feast: FeatureStore, body: dict[str, Any]) -> None:
    """pitstop's answer on Redis equals Feast's on the same Redis, but for the one documented
    difference (an entity without a hash: Feast PRESENT with null and 1970, pitstop NOT_FOUND)."""
    _, expected = _feast_answer(feast, body)
    assert set(got) == set(expected)
    for name, column in got.items():
        feast_column = expected[name]
        for row, value in enumerate(column["values"]):
            theirs: Any = feast_column["values"][row]
            theirs = None if theirs == NULL_TIMESTAMP else theirs
            status, their_status = column["statuses"][row], feast_column["statuses"][row]
            stamp, their_stamp = (
                column["event_timestamps"][row],
                feast_column["event_timestamps"][row],
            )
            if their_status == "PRESENT" and status == "NOT_FOUND":
                # The one difference: an entity with no hash in Redis.
                assert theirs is None and value is None and their_stamp == "1970-01-01T00:00:00Z"
                assert row in UNKNOWN_ROWS or "item" in name, (name, row)
                continue
            assert (value, status, stamp) == (theirs, their_status, their_stamp), (name, row)


def test_pitstop_and_feast_see_the_same_redis_keys(
    on_redis: Settings, redis_api: httpx.Client
) -> None:
    """A user looked up through pitstop is a hash Feast wrote: nothing was re-keyed."""
    answer = _by_name(
        _post(
            redis_api,
            {"features": ["user_profile:lifetime_purchases"], "entities": {"user_id": [4]}},
        )
    )
    assert answer["lifetime_purchases"]["values"] == [1]
    stamp = answer["lifetime_purchases"]["event_timestamps"][0]
    assert dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) > dt.datetime(
        2026, 3, 1, tzinfo=dt.timezone.utc
    )
