"""Every error path of the lookup API: a status, a JSON body naming the problem, no traceback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pitstop.api import create_app
from pitstop.api.routers import online
from pitstop.settings import DATA_DIR_ENV, PROJECT_ROOT, Settings

Case = tuple[dict[str, Any], int, list[str]]

# body -> status and the words the detail must contain
BAD_LOOKUPS: dict[str, Case] = {
    "unknown feature service": (
        {"entities": {"user_id": [1]}, "feature_service": "churn_v9"},
        404,
        ["feature service", "'churn_v9'", "churn_v1"],
    ),
    "unknown feature view": (
        {"entities": {"user_id": [1]}, "features": ["user_activty:events_7d"]},
        404,
        ["feature view", "'user_activty'"],
    ),
    "unknown feature": (
        {"entities": {"user_id": [1]}, "features": ["user_activity:events_8d"]},
        404,
        ["feature", "'events_8d'", "'user_activity'"],
    ),
    "unknown feature after a known one": (
        {"entities": {"user_id": [1]}, "features": ["user_activity:events_7d", "user_profile:x"]},
        404,
        ["'x'", "'user_profile'"],
    ),
    "missing entities": (
        {"features": ["user_activity:events_7d"]},
        422,
        ["body.entities", "Field required"],
    ),
    "entities not an object": (
        {"entities": [1, 2], "features": ["user_activity:events_7d"]},
        422,
        ["body.entities"],
    ),
    "entity values not a list": (
        {"entities": {"user_id": 1}, "features": ["user_activity:events_7d"]},
        422,
        ["body.entities.user_id"],
    ),
    "nested entity value": (
        {"entities": {"user_id": [[1]]}, "features": ["user_activity:events_7d"]},
        422,
        ["body.entities.user_id.0"],
    ),
    "unequal entity list lengths": (
        {"entities": {"user_id": [1, 2], "item_id": [100]}, "feature_service": "ranking_v1"},
        422,
        ["'item_id'", "1 values", "'user_id'", "2"],
    ),
    "missing join key": (
        {"entities": {"user_id": [1]}, "feature_service": "ranking_v1"},
        422,
        ["missing join key", "'item_id'"],
    ),
    "join key of the wrong type": (
        {"entities": {"user_id": ["one"]}, "feature_service": "churn_v1"},
        422,
        ["'user_id'", "integers", "'one'"],
    ),
    "boolean join key": (
        {"entities": {"user_id": [True]}, "feature_service": "churn_v1"},
        422,
        ["'user_id'", "integers"],
    ),
    "join key beyond int64": (
        {"entities": {"user_id": [1, 2**63]}, "feature_service": "churn_v1"},
        422,
        ["'user_id'", "64-bit integers", "row 1"],
    ),
    "no rows": (
        {"entities": {"user_id": []}, "feature_service": "churn_v1"},
        422,
        ["'user_id'", "no values"],
    ),
    "no entities": (
        {"entities": {}, "feature_service": "churn_v1"},
        422,
        ["entities"],
    ),
    "unreadable request_time": (
        {"entities": {"user_id": [1], "request_time": ["soon"]}, "feature_service": "churn_v1"},
        422,
        ["'request_time'", "ISO 8601", "'soon'"],
    ),
    "an entity column no view has": (
        {"entities": {"user_id": [5], "zzz": [1]}, "feature_service": "churn_v1"},
        422,
        ["unknown column(s) 'zzz'", "user_id", "request_time"],
    ),
    "request_time past year 9999 in UTC": (
        {
            "entities": {"user_id": [1], "request_time": ["9999-12-31T23:59:59-10:00"]},
            "feature_service": "churn_v1",
        },
        422,
        ["'request_time'", "9999-12-31T23:59:59-10:00"],
    ),
    "feature ref without a view": (
        {"entities": {"user_id": [1]}, "features": ["events_7d"]},
        422,
        ["'events_7d'", "feature_view:feature"],
    ),
    "neither features nor service": (
        {"entities": {"user_id": [1]}},
        422,
        ["features", "feature_service"],
    ),
    "both features and service": (
        {
            "entities": {"user_id": [1]},
            "features": ["user_activity:events_7d"],
            "feature_service": "churn_v1",
        },
        422,
        ["not both"],
    ),
    "request_time at the top level": (
        {"entities": {"user_id": [1]}, "feature_service": "churn_v1", "request_time": "now"},
        422,
        ["request_time goes inside entities"],
    ),
    "an unknown top-level field": (
        {"entities": {"user_id": [1]}, "feature_service": "churn_v1", "full_names": True},
        422,
        ["body.full_names", "Extra inputs are not permitted"],
    ),
    "a flag given as text": (
        {"entities": {"user_id": [1]}, "feature_service": "churn_v1", "full_feature_names": "yes"},
        422,
        ["body.full_feature_names", "valid boolean"],
    ),
    "two features of one name": (
        {"entities": {"user_id": [1]}, "features": ["user_activity:events_7d"] * 2},
        422,
        ["'events_7d'", "twice", "full_feature_names"],
    ),
}


def _assert_clean_error(response: httpx.Response, status: int, words: list[str]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) <= {"detail", "errors"}
    assert isinstance(body["detail"], str)
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    assert "Traceback" not in response.text and 'File "' not in response.text


@pytest.mark.parametrize("case", BAD_LOOKUPS)
def test_bad_lookup(api: httpx.Client, case: str) -> None:
    body, status, words = BAD_LOOKUPS[case]
    _assert_clean_error(api.post("/get-online-features", json=body), status, words)


@pytest.mark.parametrize(
    "content", [b'{"entities": {"user_id": [1]', b"", b"entities=1", b"\xff\xfe"]
)
def test_malformed_json_body(api: httpx.Client, content: bytes) -> None:
    response = api.post(
        "/get-online-features", content=content, headers={"content-type": "application/json"}
    )
    _assert_clean_error(response, 422, ["body"])
    if content:
        assert "malformed JSON" in response.json()["detail"]


def test_validation_errors_do_not_echo_the_input(api: httpx.Client) -> None:
    secret = "do-not-echo-" + "x" * 50
    response = api.post("/get-online-features", json={"entities": {"user_id": [{"k": secret}]}})
    _assert_clean_error(response, 422, ["body.entities.user_id.0"])
    assert secret not in response.text


def test_unknown_route(api: httpx.Client) -> None:
    _assert_clean_error(api.get("/get-online-feature"), 404, ["Not Found"])


def test_server_log_has_no_unexpected_errors(api: httpx.Client, api_log: Path) -> None:
    api.get("/health")
    assert "unexpected error" not in api_log.read_text(errors="replace")


# ---- apps without a registry, in the test process ---------------------------------------------
@pytest.fixture
def client_on(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def _client(data_dir: Path) -> TestClient:
        client = TestClient(create_app(Settings.from_env(data_dir)), raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield _client
    for client in clients:
        client.__exit__(None, None, None)


LOOKUP = {"entities": {"user_id": [1]}, "feature_service": "churn_v1"}


def test_empty_data_folder_starts_and_says_what_to_run(client_on: Any, tmp_path: Path) -> None:
    client = client_on(tmp_path)
    assert client.get("/health").json() == {"status": "ok"}
    for response in (
        client.post("/get-online-features", json=LOOKUP),
        client.get("/feature-views"),
        client.get("/feature-services"),
    ):
        _assert_clean_error(response, 503, ["no feature tables", "run `pitstop build` first"])


def test_no_registry_is_503_naming_it(client_on: Any, tmp_path: Path, trap_store: Settings) -> None:
    data_dir = tmp_path / "built-not-applied"
    shutil.copytree(trap_store.features_dir, data_dir / "features")
    client = client_on(data_dir)
    assert client.get("/health").status_code == 200
    response = client.post("/get-online-features", json=LOOKUP)
    # the server's folders are not spelt out to clients
    _assert_clean_error(
        response, 503, ["no Feast registry at <data>/registry.db; run `pitstop apply` first"]
    )
    _assert_clean_error(client.get("/feature-services"), 503, ["no Feast registry"])
    ready = client.get("/ready")
    assert ready.status_code == 503 and "<data>/registry.db" in ready.json()["detail"]
    for answer in (response, ready):
        assert str(tmp_path) not in answer.text and str(PROJECT_ROOT) not in answer.text


def test_no_online_store_is_503_naming_it(
    client_on: Any, tmp_path: Path, trap_store: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "applied-not-materialized"
    # open_store points PITSTOP_DATA_DIR at the folder it opens; restore it afterwards.
    monkeypatch.setenv(DATA_DIR_ENV, str(data_dir))
    shutil.copytree(trap_store.features_dir, data_dir / "features")
    shutil.copy(trap_store.registry_path, data_dir / "registry.db")
    client = client_on(data_dir)
    response = client.post("/get-online-features", json=LOOKUP)
    _assert_clean_error(response, 503, ["no online store at", "run `pitstop materialize` first"])
    assert not (data_dir / "online_store.db").exists()


def test_unexpected_error_is_500_without_details(
    client_on: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_on(tmp_path)

    async def broken_lookup(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals at /var/lib/thing")

    monkeypatch.setattr(online, "lookup", broken_lookup)
    response = client.post("/get-online-features", json=LOOKUP)
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "secret" not in response.text
