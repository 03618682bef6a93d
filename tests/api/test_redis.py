"""The lookup API on pitstop's Redis layout (the real server on 127.0.0.1:6379).

Feast materializes a copy of the trap data into a Redis database of its own, through pitstop's
online-store plugin; the answers of a real pitstop server reading that database must equal
Feast's ``get_online_features`` on the same store, for every lookup of test_online.py. (Feast's
own Redis store against the same tables: tests/materialize/test_equivalence.py.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import time
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
    Columns,
    _by_name,
    _feast_answer,
    _post,
)

if TYPE_CHECKING:
    from feast import FeatureStore

REDIS_URL = "redis://127.0.0.1:6379/14"  # this module's own database, flushed at the start


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
    repo.materialize(settings)  # Feast's materialization writes Redis, through the plugin
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
    assert store.config.online_store.type == "pitstop.online.feast_store.PitstopOnlineStore"
    assert store.config.online_store.redis_url == REDIS_URL
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
    """pitstop's answer equals Feast's through the plugin on the same Redis, cell for cell
    (Feast's null timestamp value read as null, as test_online.py does)."""
    _, expected = _feast_answer(feast, body)
    for column in expected.values():
        column["values"] = [None if v == NULL_TIMESTAMP else v for v in column["values"]]
    assert got == expected


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


def test_an_emptied_redis_is_not_ready_until_materialized_again(
    on_redis: Settings, redis_api: httpx.Client
) -> None:
    """A flushed Redis was answered NOT_FOUND for every entity while `/ready` said ready."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    body = {"features": ["user_profile:lifetime_purchases"], "entities": {"user_id": [4]}}
    deadline = time.monotonic() + 10
    while (ready := redis_api.get("/ready")).status_code == 200:
        assert time.monotonic() < deadline, "an emptied Redis still reads as ready"
        time.sleep(0.2)
    assert ready.status_code == 503
    assert "holds no feature values" in ready.json()["detail"], ready.text
    assert "run `pitstop materialize`" in ready.json()["detail"]
    assert redis_api.post("/get-online-features", json=body).status_code == 503
    repo.materialize(on_redis)
    while redis_api.get("/ready").status_code != 200:
        assert time.monotonic() < deadline + 20, "not ready after the materialization"
        time.sleep(0.2)
    assert _by_name(_post(redis_api, body))["lifetime_purchases"]["values"] == [1]
