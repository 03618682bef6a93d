"""Feast's SQL registry on the real PostgreSQL server, shared by several processes.

A fresh database per test session (``pitstop_test_<pid>``), dropped at the end. `pitstop apply`
writes the registry there; a child `pitstop materialize` reads it; this process's FeatureStore
and a training set read it too. A missing server is a one-line error, not a trace.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pitstop.cli import main
from pitstop.feast_adapter import repo
from pitstop.settings import PROJECT_ROOT, REGISTRY_URL_ENV, Settings
from tests.materialize.conftest import ITEMS, USERS
from tests.materialize.tables import DAY, write_feature_tables

SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture(scope="module")
def registry_url() -> Iterator[str]:
    name = f"pitstop_test_{os.getpid()}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")
        admin.execute(f"create database {name}")
    yield f"{SERVER}/{name}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT / "service"),
        REGISTRY_URL_ENV: settings.registry_url or "",
    }
    return subprocess.run(
        [sys.executable, "-m", "pitstop.cli", *args, "--data-dir", str(settings.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_processes_share_the_sql_registry(tmp_path: Path, registry_url: str) -> None:
    settings = dataclasses.replace(Settings.from_env(tmp_path), registry_url=registry_url)
    write_feature_tables(settings.features_dir, users=USERS, items=ITEMS)

    repo.apply(settings, echo=None)
    assert not settings.registry_path.exists()
    with psycopg.connect(registry_url) as db:
        views = db.execute("select feature_view_name from feature_views").fetchall()
    assert {name for (name,) in views} == {"user_activity", "user_profile", "item_popularity"}

    child = _cli(settings, "materialize", "--quiet")
    assert child.returncode == 0, child.stderr
    assert f"{USERS:,} entities written" in child.stdout

    store = repo.open_store(settings)
    assert store.config.registry.registry_type == "sql"
    response = store.get_online_features(
        features=["user_profile:lifetime_purchases"], entity_rows=[{"user_id": 1}]
    ).to_dict()
    assert response["lifetime_purchases"][0] is not None


def test_training_set_reads_the_sql_registry(
    tmp_path: Path, registry_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(Settings.from_env(tmp_path), registry_url=registry_url)
    write_feature_tables(settings.features_dir, users=50, items=5)
    repo.apply(settings, echo=None)
    monkeypatch.setenv(REGISTRY_URL_ENV, registry_url)  # main() reads the settings from it

    out = tmp_path / "training.parquet"
    window = [DAY.date().isoformat(), (DAY + dt.timedelta(days=2)).date().isoformat()]
    code = main(
        ["training-set", "--data-dir", str(settings.data_dir), "--feature-service", "churn_v1"]
        + ["--start", window[0], "--end", window[1], "--out", str(out), "--quiet"]
    )
    assert code == 0 and out.exists()


@pytest.mark.parametrize("command", ["apply", "materialize", "training-set"])
def test_unreachable_registry_is_one_line(tmp_path: Path, command: str) -> None:
    settings = dataclasses.replace(
        Settings.from_env(tmp_path), registry_url="postgresql://postgres@127.0.0.1:9/none"
    )
    write_feature_tables(settings.features_dir, users=5, items=5)
    extra = (
        [
            "--feature-service",
            "churn_v1",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-02",
            "--out",
            str(tmp_path / "t.parquet"),
        ]
        if command == "training-set"
        else []
    )
    result = _cli(settings, command, *extra)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "cannot reach the registry database postgresql://postgres@127.0.0.1:9/none" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_the_lookup_api_serves_from_the_sql_registry(tmp_path: Path, registry_url: str) -> None:
    """The API compiles its plans from Feast's tables in PostgreSQL (no registry file)."""
    import httpx

    from pitstop.api.background import api_in_background
    from pitstop.materialize import materialize

    settings = dataclasses.replace(Settings.from_env(tmp_path), registry_url=registry_url)
    write_feature_tables(settings.features_dir, users=USERS, items=ITEMS)
    repo.apply(settings, echo=None)
    materialize(settings)
    refs = ["user_profile:lifetime_purchases", "user_activity:events_7d"]
    expected = (
        repo.open_store(settings)
        .get_online_features(features=refs, entity_rows=[{"user_id": 1}, {"user_id": 2}])
        .to_dict()
    )
    with api_in_background(settings, log_path=tmp_path / "api.log") as api:
        api.wait_until_healthy()
        ready = httpx.get(f"{api.base_url}/ready", timeout=10).json()
        assert ready["status"] == "ready", ready
        answer = httpx.post(
            f"{api.base_url}/get-online-features",
            json={"features": refs, "entities": {"user_id": [1, 2]}},
            timeout=10,
        ).json()
    assert "metadata" in answer, answer
    names = answer["metadata"]["feature_names"]
    got = {name: column["values"] for name, column in zip(names, answer["results"], strict=True)}
    assert got["lifetime_purchases"] == expected["lifetime_purchases"]
    assert got["events_7d"] == expected["events_7d"]
    assert not settings.registry_path.exists()
