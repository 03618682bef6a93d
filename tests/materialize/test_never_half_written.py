"""Lookups during a materialization see old or new values per entity, never an error or a mix;
a materialization killed halfway leaves the previous values served, the next run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from pitstop.feast_adapter import repo
from pitstop.materialize import materialize
from pitstop.settings import (
    ONLINE_STORE_ENV,
    PROJECT_ROOT,
    REDIS_URL_ENV,
    Settings,
)
from tests.materialize.conftest import USERS, Folder
from tests.materialize.tables import write_feature_tables

Values = dict[int, tuple[Any, ...]]


def read_all(settings: Settings, store: Any = None) -> Values:
    """Every user's user_activity values through Feast's SDK."""
    store = store or repo.open_store(settings)
    view = store.get_feature_view("user_activity")
    names = [field.name for field in view.features]
    users = list(range(1, USERS + 1))
    rows = store.get_online_features(
        features=[f"user_activity:{name}" for name in names],
        entity_rows=[{"user_id": user} for user in users],
    ).to_dict()
    return {user: tuple(rows[name][i] for name in names) for i, user in enumerate(users)}


def start_child(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT / "service"),
        ONLINE_STORE_ENV: settings.online_store,
        REDIS_URL_ENV: settings.redis_url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pitstop.cli", "materialize", "--data-dir", str(settings.data_dir)]
        + ["--batch-rows", "100", "--throttle", "0.25", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def classify(seen: Values, old: Values, new: Values) -> tuple[int, int]:
    """(entities with old values, entities with new values); fails on anything else."""
    olds = news = 0
    for user, values in seen.items():
        if values == old[user]:
            olds += 1
        elif values == new[user]:
            news += 1
        else:
            pytest.fail(f"user {user}: {values} is neither old {old[user]} nor new {new[user]}")
    return olds, news


@pytest.fixture(params=["sqlite", "redis"])
def old_and_new(
    request: pytest.FixtureRequest, folder: Folder, redis_urls: tuple[str, str]
) -> tuple[Settings, Values, Values]:
    """A store holding version 0's values, its tables at version 1; both versions' values."""
    store = request.param
    reference = folder("reference", online_store=store, redis_url=redis_urls[1])
    write_feature_tables(reference.features_dir, users=USERS, items=10, version=1)
    materialize(reference)
    new = read_all(reference)
    settings = folder("live", online_store=store, redis_url=redis_urls[0])
    materialize(settings)
    old = read_all(settings)
    write_feature_tables(settings.features_dir, users=USERS, items=10, version=1)
    assert all(old[user] != new[user] for user in old)
    return settings, old, new


def test_lookups_during_a_run_see_old_or_new(old_and_new: tuple[Settings, Values, Values]) -> None:
    settings, old, new = old_and_new
    store = repo.open_store(settings)
    child = start_child(settings)
    mixed_seen = 0
    while child.poll() is None:
        olds, news = classify(read_all(settings, store), old, new)
        mixed_seen += bool(olds and news)
        time.sleep(0.05)
    assert child.returncode == 0, child.stderr.read() if child.stderr else ""
    assert mixed_seen, "no lookup happened while the run was halfway"
    assert classify(read_all(settings, store), old, new) == (0, USERS)


def test_killed_run_leaves_old_values_and_next_run_finishes(
    old_and_new: tuple[Settings, Values, Values],
) -> None:
    settings, old, new = old_and_new
    store = repo.open_store(settings)
    child = start_child(settings)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert child.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            olds, news = classify(read_all(settings, store), old, new)
            if news:
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    olds, news = classify(read_all(settings, store), old, new)
    assert olds and news  # halfway: the rest still serves its previous values

    report = materialize(settings)
    assert report.entities["user_activity"] == USERS  # the state was not replaced: all again
    assert classify(read_all(settings, store), old, new) == (0, USERS)
    assert materialize(settings).entities_written == 0
