"""Writes, limits, access and operability, on a real server over a copy of the trap data.

The copy (registry, online store, feature tables) is this module's own: pushes, a vanished
store and a re-applied registry must not touch what the other API tests read. The server asks
for an API key on writes and reads alike here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pitstop.api.background import api_in_background
from pitstop.settings import Settings

KEY = "s3cret-key"
AUTH = {"X-API-Key": KEY}
BODY_LIMIT = 64 * 1024

# Pushes are dated before the server's clock (at most a day ahead is accepted): an hour ago,
# whole hours, later than anything the copied data folder holds.
PUSHED_AT = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).strftime(
    "%Y-%m-%dT%H:00:00Z"
)
EARLIER = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def copy(trap_store: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("operations")
    shutil.copytree(trap_store.features_dir, folder / "features")
    shutil.copy(trap_store.registry_path, folder / "registry.db")
    # SQLite's backup, not a file copy: the rows may still sit in the -wal file beside it (a
    # copy of the file alone was an empty store, which /ready now refuses)
    source = sqlite3.connect(f"file:{trap_store.online_store_path}?mode=ro", uri=True)
    with (
        contextlib.closing(source),
        contextlib.closing(sqlite3.connect(folder / "online_store.db")) as target,
    ):
        source.backup(target)
    return dataclasses.replace(
        Settings.from_env(folder),
        api_key=KEY,
        api_key_on_reads=True,
        online_ttl=False,
        max_entities=50,
        max_body_bytes=BODY_LIMIT,
    )


@pytest.fixture(scope="module")
def server(copy: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("operations-log") / "server.log"
    with api_in_background(copy, log_path=log) as api:
        api.wait_until_healthy()
        with httpx.Client(base_url=api.base_url, timeout=30.0, headers=AUTH) as client:
            _wait_ready(client)
            yield client


def _wait_ready(client: httpx.Client, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/ready")
        if response.status_code == 200 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body
        time.sleep(0.1)


def _lookup(client: httpx.Client, users: list[int], **headers: str) -> httpx.Response:
    return client.post(
        "/get-online-features",
        json={"features": ["user_activity:events_7d"], "entities": {"user_id": users}},
        headers=headers or None,
    )


@pytest.fixture(scope="module")
def activity(server: httpx.Client) -> list[str]:
    """user_activity's features, as the registry lists them (a push sends every one)."""
    views = {view["name"]: view for view in server.get("/feature-views").json()}
    return [feature["name"] for feature in views["user_activity"]["features"]]


def _activity_push(features: list[str], user: int, stamp: str, events_7d: int) -> dict[str, Any]:
    row = dict.fromkeys(features, 0)
    row.update(events_7d=events_7d, revenue_7d=1.5, revenue_30d=3.0, avg_order_value_30d=None)
    return {
        "push_source_name": "user_activity_push",
        "df": {"user_id": [user], "event_timestamp": [stamp], **{k: [v] for k, v in row.items()}},
        "to": "online",
    }


# ---- access ----------------------------------------------------------------------------------
def test_the_key_is_asked_for_on_reads_and_writes(
    server: httpx.Client, activity: list[str]
) -> None:
    anonymous = {"X-API-Key": ""}
    response = server.post("/get-online-features", json={}, headers=anonymous)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API key" in response.json()["detail"]
    assert (
        server.post(
            "/push", json=_activity_push(activity, 1, "2026-04-25", 1), headers=anonymous
        ).status_code
        == 401
    )
    # The key as a bearer token (a client of its own: the fixture's sends X-API-Key).
    response = httpx.post(
        f"{server.base_url}/get-online-features",
        json={"features": ["user_activity:events_7d"], "entities": {"user_id": [1]}},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 200, response.text
    assert server.get("/health", headers=anonymous).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/feature-views",
        "/feature-services",
        "/features/churn_v1?user_id=1",
        "/metrics",
        "/monitoring/status",
        "/status",
        "/openapi.json",
        "/docs",
        "/redoc",
    ],
)
def test_with_reads_protected_every_read_route_asks_for_the_key(
    server: httpx.Client, path: str
) -> None:
    """Only lookups asked for it: the registry listings, the metrics, the monitoring pages and
    the docs answered anyone. The probes stay open (below)."""
    assert server.get(path, headers={"X-API-Key": ""}).status_code == 401
    assert server.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
    # with the key: answered (the monitoring pages 503 here: this copy has no warehouse)
    assert server.get(path).status_code in (200, 503), server.get(path).text


def test_the_probes_need_no_key(server: httpx.Client) -> None:
    for path in ("/health", "/ready"):
        assert server.get(path, headers={"X-API-Key": ""}).status_code == 200


def test_the_docs_describe_the_api(server: httpx.Client) -> None:
    schema = server.get("/openapi.json").json()
    assert "/get-online-features" in schema["paths"] and "/push" in schema["paths"]
    assert not {"/docs", "/redoc", "/openapi.json"} & set(schema["paths"])
    # every status the API answers is declared, and the key's two forms are security schemes
    lookup = schema["paths"]["/get-online-features"]["post"]
    assert {"200", "401", "404", "413", "422", "503"} <= set(lookup["responses"])
    assert lookup["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    assert {"401", "413", "422"} <= set(schema["paths"]["/push"]["post"]["responses"])
    schemes = schema["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "PITSTOP_API_KEY, when the server sets one",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert "/openapi.json" in server.get("/docs").text
    assert "/openapi.json" in server.get("/redoc").text


def test_more_entities_than_the_limit_is_413_with_the_limit(server: httpx.Client) -> None:
    response = _lookup(server, list(range(51)))
    assert response.status_code == 413
    assert response.json()["limit"] == 50
    assert "PITSTOP_MAX_ENTITIES" in response.json()["detail"]
    assert _lookup(server, list(range(50))).status_code == 200


def _padded_lookup(size: int) -> bytes:
    head = b'{"entities": {"user_id": [1]}, "feature_service": "churn_v1", "pad": "'
    return head + b"a" * (size - len(head) - 2) + b'"}'


def test_a_body_past_the_limit_is_413_before_it_is_read(server: httpx.Client) -> None:
    """A 50 MB body raised the server from 280 to 629 MB before its answer."""
    body = _padded_lookup(BODY_LIMIT + 1)
    response = server.post("/get-online-features", content=body)
    assert response.status_code == 413, response.text
    assert response.json()["limit"] == BODY_LIMIT
    assert "PITSTOP_MAX_BODY_BYTES" in response.json()["detail"]
    # the same without a Content-Length (chunked): cut off as it arrives
    chunks = [body[i : i + 8192] for i in range(0, len(body), 8192)]
    response = server.post("/get-online-features", content=iter(chunks))
    assert response.status_code == 413, response.text
    # at the limit, the body is read (and refused for its unknown field, not its size)
    response = server.post("/get-online-features", content=_padded_lookup(BODY_LIMIT))
    assert response.status_code == 422 and "body.pad" in response.text
    push = server.post("/push", content=b" " * (BODY_LIMIT + 1))
    assert push.status_code == 413


# ---- the row endpoint ------------------------------------------------------------------------
def test_features_endpoint_answers_one_row_by_name(server: httpx.Client) -> None:
    row = server.get("/features/ranking_v1", params={"user_id": 1, "item_id": 100}).json()
    column = server.post(
        "/get-online-features",
        json={"feature_service": "ranking_v1", "entities": {"user_id": [1], "item_id": [100]}},
    ).json()
    names = column["metadata"]["feature_names"]
    assert row["entities"] == {"user_id": 1, "item_id": 100}
    for name, result in zip(names[2:], column["results"][2:], strict=True):
        assert row["features"][name] == result["values"][0]
        assert row["statuses"][name] == result["statuses"][0]
        assert row["event_timestamps"][name] == result["event_timestamps"][0]
    assert list(row["features"]) == names[2:]


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"user_id": "x", "item_id": 1}, 422, ["'user_id' must be an integer"]),
        ({"user_id": 1, "item_id": 1, "colour": "red"}, 422, ["unknown query parameter 'colour'"]),
        ({"user_id": 1}, 422, ["missing join key 'item_id'"]),
    ],
)
def test_features_endpoint_bad_input(
    server: httpx.Client, params: dict[str, Any], status: int, words: list[str]
) -> None:
    response = server.get("/features/ranking_v1", params=params)
    assert response.status_code == status
    for word in words:
        assert word in response.json()["detail"]
    assert server.get("/features/nope", params={"user_id": 1}).status_code == 404


# ---- push ------------------------------------------------------------------------------------
def test_a_push_is_seen_by_the_next_lookup_and_an_older_one_is_not(
    server: httpx.Client, activity: list[str]
) -> None:
    response = server.post("/push", json=_activity_push(activity, 3, PUSHED_AT, 777))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "push_source_name": "user_activity_push",
        "feature_views": ["user_activity"],
        "rows": 1,
        "written": 1,
    }
    answer = _lookup(server, [3]).json()["results"][1]
    assert answer["values"] == [777]
    assert answer["event_timestamps"] == [PUSHED_AT]
    # Older than what is stored: skipped, the fresher value stays.
    older = server.post("/push", json=_activity_push(activity, 3, "2026-12-01T00:00:00Z", 5))
    assert older.json()["written"] == 0
    assert _lookup(server, [3]).json()["results"][1]["values"] == [777]
    # A user nobody knew is created.
    server.post("/push", json=_activity_push(activity, 5151, PUSHED_AT, 4))
    assert _lookup(server, [5151]).json()["results"][1]["values"] == [4]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"push_source_name": "nope"}, 404, ["push source 'nope' not found"]),
        ({"to": "offline"}, 422, ["pushes go online only"]),
        ({"df": {"user_id": [1], "event_timestamp": [EARLIER]}}, 422, ["needs column"]),
        ({"df": {"user_id": ["a"], "event_timestamp": [EARLIER], "events_7d": [1]}}, 422, []),
    ],
)
def test_bad_pushes_are_refused(
    server: httpx.Client, activity: list[str], change: dict[str, Any], status: int, words: list[str]
) -> None:
    body = {**_activity_push(activity, 1, EARLIER, 1), **change}
    response = server.post("/push", json=body)
    assert response.status_code == status, response.text
    for word in words:
        assert word in response.json()["detail"]


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        # issue 20: values past their type's range, and times that would poison the entity
        ("user_id", 2**63, ["'user_id'", "INT64"]),
        ("events_7d", 2**63, ["'events_7d'", "INT64"]),
        ("event_timestamp", "2100-01-01T00:00:00Z", ["outside 1970-01-01"]),
        ("event_timestamp", "0001-01-01T00:00:00Z", ["outside 1970-01-01"]),
        ("event_timestamp", "9999-12-31T23:59:59-10:00", ["ISO 8601"]),
    ],
)
def test_pushed_values_out_of_range_are_refused(
    server: httpx.Client, activity: list[str], column: str, value: Any, words: list[str]
) -> None:
    body = _activity_push(activity, 1, EARLIER, 1)
    body["df"][column] = [value]
    response = server.post("/push", json=body)
    assert response.status_code == 422, response.text
    for word in words:
        assert word in response.json()["detail"]


def test_a_double_past_float64_is_refused(server: httpx.Client, activity: list[str]) -> None:
    body = _activity_push(activity, 1, EARLIER, 1)
    text = json.dumps(body).replace('"revenue_7d": [1.5]', '"revenue_7d": [1e400]')
    assert "1e400" in text
    response = server.post("/push", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text


# ---- operability -----------------------------------------------------------------------------
def test_metrics_count_requests_entities_and_statuses(server: httpx.Client) -> None:
    _lookup(server, [1, 2, 987654])
    text = server.get("/metrics").text
    assert 'pitstop_http_requests_total{route="/get-online-features",status="200"}' in text
    assert (
        'pitstop_http_request_duration_seconds_bucket{le="0.005",route="/get-online-features"}'
        in text
    )
    assert 'pitstop_online_entities_total{service="features"}' in text
    not_found = [line for line in text.splitlines() if 'status="NOT_FOUND"' in line]
    assert not_found and float(not_found[0].split()[-1]) >= 1


def test_a_vanished_store_is_503_and_the_api_recovers(server: httpx.Client, copy: Settings) -> None:
    store = copy.online_store_path
    aside = store.with_suffix(".aside")
    os.replace(store, aside)
    try:
        response = _lookup(server, [1])
        assert response.status_code == 503
        assert "no online store" in response.json()["detail"]
        ready = server.get("/ready")
        assert ready.status_code == 503 and "no online store" in ready.json()["detail"]
    finally:
        os.replace(aside, store)
    _wait_ready(server)
    assert _lookup(server, [1]).status_code == 200


def test_a_new_registry_is_picked_up_without_a_restart(
    server: httpx.Client, copy: Settings
) -> None:
    before = _wait_ready(server)["registry_version"]
    # What `pitstop apply` does to the file registry: a new file in its place.
    fresh = copy.registry_path.with_suffix(".new")
    fresh.write_bytes(copy.registry_path.read_bytes())
    os.replace(fresh, copy.registry_path)
    deadline = time.monotonic() + 10
    while _wait_ready(server)["registry_version"] == before:
        assert time.monotonic() < deadline, "the registry change was not picked up"
        time.sleep(0.2)


def test_a_corrupt_registry_keeps_the_last_good_plans(server: httpx.Client, copy: Settings) -> None:
    good = copy.registry_path.read_bytes()
    copy.registry_path.write_bytes(b"not a registry")
    try:
        time.sleep(1.5)
        assert _lookup(server, [1]).status_code == 200
    finally:
        copy.registry_path.write_bytes(good)
    _wait_ready(server)
