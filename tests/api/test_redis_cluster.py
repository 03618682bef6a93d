"""The lookup API on a Redis Cluster (``PITSTOP_REDIS_TYPE=redis_cluster``): a real three-node
cluster on 127.0.0.1 (tests/redis_cluster.py), the trap data materialized into it by
``pitstop materialize``.

Its answers must equal pitstop's on SQLite (the session's ``api``) body for body, and Feast's
own ``get_online_features`` through pitstop's plugin in cluster mode, reading the keys pitstop
wrote. A stopped cluster answers 503 naming
it, and the API recovers when the cluster is back.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis
import yaml

from pitstop.api.background import api_in_background
from pitstop.errors import ConfigurationError
from pitstop.feast_adapter import repo
from pitstop.feast_adapter.config import feast_config
from pitstop.materialize import materialize
from pitstop.materialize.run import online_views
from pitstop.online import codec
from pitstop.online.redis_store import row_field
from pitstop.online.stores import ViewRead, open_online_store
from pitstop.settings import Settings
from tests.api.conftest import client_of_api
from tests.api.test_online import LOOKUPS, USERS, _by_name, _post
from tests.api.test_operations import PUSHED_AT, _wait_ready
from tests.api.test_redis import assert_same_as_feast, lookup_bodies
from tests.redis_cluster import RedisCluster, running_cluster

if TYPE_CHECKING:
    from feast import FeatureStore


@pytest.fixture(scope="module")
def on_cluster(
    trap_store: Settings, cluster: RedisCluster, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """A copy of the trap data folder, materialized into the cluster by `pitstop materialize`."""
    folder = tmp_path_factory.mktemp("redis-cluster-data")
    shutil.copy(trap_store.registry_path, folder / "registry.db")
    shutil.copytree(trap_store.features_dir, folder / "features")
    settings = dataclasses.replace(
        Settings.from_env(folder),
        online_store="redis",
        redis_type="redis_cluster",
        redis_url=cluster.url,
        online_ttl=False,
        serving_log_rate=0.0,
    )
    result = subprocess.run(
        [sys.executable, "-m", "pitstop.cli", "materialize", "--quiet"],
        env={**os.environ, **settings.environment()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"into {cluster.url}" in result.stdout
    return settings


@pytest.fixture(scope="module")
def cluster_api(
    on_cluster: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("redis-cluster-log") / "server.log"
    with client_of_api(on_cluster, log, "redis_cluster") as client:
        yield client


@pytest.fixture(scope="module")
def feast_on_cluster(on_cluster: Settings) -> FeatureStore:
    """Feast's SDK on the generated feature_store.yaml: the plugin, in cluster mode."""
    store: FeatureStore = repo.open_store(on_cluster)
    assert store.config.online_store.redis_type == "redis_cluster"
    return store


def _keys_by_port(cluster: RedisCluster, project: str) -> dict[bytes, int]:
    """Every hash of ``project`` in the cluster, with the port of the node holding it."""
    found: dict[bytes, int] = {}
    for port in cluster.ports:
        with redis.Redis(port=port) as node:
            for key in node.scan_iter(match=b"*" + project.encode(), count=1000):
                found[key] = port
    return found


@pytest.mark.parametrize("case", LOOKUPS)
def test_answers_equal_pitstops_on_sqlite_and_feasts_on_the_cluster(
    cluster_api: httpx.Client, api: httpx.Client, feast_on_cluster: FeatureStore, case: str
) -> None:
    body, sdk_body = lookup_bodies(case)
    got = _post(cluster_api, body)
    assert got == _post(api, body)
    assert_same_as_feast(_by_name(got), feast_on_cluster, sdk_body)


def test_the_keys_of_one_lookup_live_on_several_nodes(
    cluster: RedisCluster, cluster_api: httpx.Client, feast_on_cluster: FeatureStore
) -> None:
    project = feast_on_cluster.project
    stored = _keys_by_port(cluster, project)
    users = [user for user in USERS if user not in (8, 424242)]  # the log's users
    keys = [codec.redis_key(codec.entity_key(["user_id"], [u], ["INT64"]), project) for u in users]
    assert set(keys) <= set(stored)
    assert len({stored[key] for key in keys}) >= 2
    assert set(stored.values()) == set(cluster.ports)  # every primary holds some entities
    answer = _by_name(_post(cluster_api, LOOKUPS["user features"]))
    statuses = answer["lifetime_revenue"]["statuses"]
    assert [statuses[USERS.index(user)] for user in users] == ["PRESENT"] * len(users)


def test_a_push_is_seen_by_the_next_lookup_and_an_older_one_is_not(
    cluster_api: httpx.Client,
) -> None:
    views = {view["name"]: view for view in cluster_api.get("/feature-views").json()}
    features = [feature["name"] for feature in views["user_activity"]["features"]]

    def push(user: int, stamp: str, events_7d: int) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(features, 0)
        row.update(events_7d=events_7d, avg_order_value_30d=None)
        columns = {"user_id": [user], "event_timestamp": [stamp]}
        columns |= {name: [value] for name, value in row.items()}
        body = {"push_source_name": "user_activity_push", "df": columns, "to": "online"}
        response = cluster_api.post("/push", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def events_7d(users: list[int]) -> list[Any]:
        body = {"features": ["user_activity:events_7d"], "entities": {"user_id": users}}
        return list(_by_name(_post(cluster_api, body))["events_7d"]["values"])

    # Users only this test knows, on different slots: one push row each.
    assert push(7100001, PUSHED_AT, 11)["written"] == 1
    assert push(7100002, PUSHED_AT, 12)["written"] == 1
    assert events_7d([7100001, 7100002]) == [11, 12]
    assert push(7100001, "2026-12-01T00:00:00Z", 5)["written"] == 0  # older: the newer stays
    assert events_7d([7100001]) == [11]


def test_a_second_materialize_finds_everything_in_place(on_cluster: Settings) -> None:
    """The completion marker on every primary and the sampled entities are found: nothing to
    write. A primary that lost its data (here: flushed) makes the next run rewrite in full."""
    assert sum(materialize(on_cluster).entities.values()) == 0
    with redis.Redis.from_url(on_cluster.redis_url.split(",")[0]) as node:
        node.flushall()  # one primary of this test's own cluster
    report = materialize(on_cluster)
    assert report.full and sum(report.entities.values()) > 0


def test_forget_features_sweeps_every_primary(
    on_cluster: Settings, cluster: RedisCluster, feast_on_cluster: FeatureStore
) -> None:
    """Run after the tests that read events_7d: it deletes that feature from the cluster (one
    value of each user_activity row, on every primary)."""
    project = feast_on_cluster.project
    field = row_field("user_activity")
    holding: dict[int, int] = {}
    for key, port in _keys_by_port(cluster, project).items():
        with redis.Redis(port=port) as node:
            holding[port] = holding.get(port, 0) + int(node.hexists(key, field))
    assert len([port for port, count in holding.items() if count]) >= 2
    _, views = online_views(on_cluster)
    views = [
        dataclasses.replace(view, features=tuple(f for f in view.features if f.name != "events_7d"))
        for view in views
    ]
    store = open_online_store(on_cluster, project, bulk=True)
    try:
        assert store.forget_features(views) == sum(holding.values())
        assert store.forget_features(views) == 0
        users = [user for user in USERS if user not in (8, 424242)]
        keys = [codec.entity_key(["user_id"], [user], ["INT64"]) for user in users]
        (rows,) = store.read([ViewRead("user_activity", ("events_7d", "events_30d"))], [keys])
        assert rows.values[0] == [None] * len(users)  # no longer stored
        assert None not in rows.values[1]
    finally:
        store.close()


def test_a_stopped_cluster_answers_503_and_the_api_recovers(
    on_cluster: Settings, tmp_path: Path
) -> None:
    with running_cluster(tmp_path / "nodes") as own:
        # a copy of the folder, materialized into this cluster (an empty one is not ready)
        shutil.copytree(on_cluster.data_dir, tmp_path / "data", symlinks=True)
        settings = dataclasses.replace(on_cluster, data_dir=tmp_path / "data", redis_url=own.url)
        materialize(settings)
        with api_in_background(settings, log_path=tmp_path / "server.log") as server:
            server.wait_until_healthy()
            with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
                body = {"features": ["user_activity:events_7d"], "entities": {"user_id": [1, 2]}}
                _wait_ready(client)  # a new cluster may say "the cluster is down" at first
                assert client.post("/get-online-features", json=body).status_code == 200
                own.stop()
                for response in (
                    client.post("/get-online-features", json=body),
                    client.get("/ready"),
                ):
                    assert response.status_code == 503, response.text
                    detail = response.json()["detail"]
                    assert "Redis Cluster online store" in detail and "\n" not in detail
                    assert own.url.removeprefix("redis://") in detail
                own.start()
                own.wait_until_serving()
                # Back, empty (its nodes keep nothing): the API reconnects by itself and says
                # the store holds nothing until it is materialized again.
                deadline = time.monotonic() + 20
                while "holds no feature values" not in client.get("/ready").text:
                    assert time.monotonic() < deadline, client.get("/ready").text
                    time.sleep(0.2)
                materialize(settings)
                response = client.post("/get-online-features", json=body)
                while response.status_code != 200 and time.monotonic() < deadline + 20:
                    time.sleep(0.2)
                    response = client.post("/get-online-features", json=body)
                assert response.status_code == 200, response.text


# ---- settings -----------------------------------------------------------------------------
def test_the_redis_type_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITSTOP_REDIS_TYPE", "Redis_Cluster")
    assert Settings.from_env(tmp_path).redis_type == "redis_cluster"
    monkeypatch.setenv("PITSTOP_REDIS_TYPE", "sentinel")
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(tmp_path)
    assert str(raised.value) == (
        "PITSTOP_REDIS_TYPE must be one of redis, redis_cluster, got 'sentinel'"
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis://127.0.0.1:7000,127.0.0.1:seven", "must look like redis://host1:port1"),
        ("http://127.0.0.1:7000", "must look like redis://host1:port1"),
        ("redis://127.0.0.1:7000/3", "a Redis Cluster has only database 0"),
    ],
)
def test_a_bad_cluster_url_is_named_in_one_line(tmp_path: Path, url: str, words: str) -> None:
    settings = Settings(tmp_path, online_store="redis", redis_type="redis_cluster", redis_url=url)
    for attempt in (lambda: open_online_store(settings, "p"), lambda: feast_config(settings)):
        with pytest.raises(ConfigurationError, match="PITSTOP_REDIS_URL") as raised:
            attempt()
        assert words in str(raised.value) and "\n" not in str(raised.value)


def test_several_servers_without_the_cluster_type_say_which_setting(tmp_path: Path) -> None:
    settings = Settings(tmp_path, online_store="redis", redis_url="redis://h1:7000,h2:7001")
    for attempt in (lambda: open_online_store(settings, "p"), lambda: feast_config(settings)):
        with pytest.raises(ConfigurationError, match="PITSTOP_REDIS_TYPE=redis_cluster"):
            attempt()


def test_the_generated_feature_store_yaml_names_the_cluster(tmp_path: Path) -> None:
    settings = Settings(
        tmp_path,
        online_store="redis",
        redis_type="redis_cluster",
        redis_url="redis://:s3cret@10.0.0.5:7000,10.0.0.6:7001",
    )
    written = yaml.safe_load(yaml.safe_dump(feast_config(settings)))
    assert written["online_store"] == {
        "type": "pitstop.online.feast_store.PitstopOnlineStore",
        "redis_url": "redis://:s3cret@10.0.0.5:7000,10.0.0.6:7001",
        "redis_type": "redis_cluster",
    }
