"""Data folders for materializer tests: synthetic feature tables, applied once per session."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from pitstop.feast_adapter import repo
from pitstop.settings import Settings
from tests.materialize.tables import write_feature_tables

USERS, ITEMS = 1_500, 300
# Dedicated databases of the shared Redis server (other sessions use others); only these
# are flushed.
REDIS_DBS = (11, 12, 10)

Folder = Callable[..., Settings]


@pytest.fixture(scope="session")
def applied_template(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Feature tables (version 0) and a file registry applied for them."""
    settings = Settings.from_env(tmp_path_factory.mktemp("materialize-template"))
    write_feature_tables(settings.features_dir, users=USERS, items=ITEMS)
    repo.apply(settings, echo=None)
    return settings


@pytest.fixture
def folder(applied_template: Settings, tmp_path: Path) -> Folder:
    """A copy of the applied template; keyword arguments replace settings fields.

    The copy's registry still names the template's feature tables as sources (Feast's
    materialize reads those); pitstop's materializer reads the copy's own tables.
    """

    def _folder(name: str, **fields: object) -> Settings:
        target = tmp_path / name
        shutil.copytree(applied_template.data_dir, target)
        return dataclasses.replace(Settings.from_env(target), **fields)  # type: ignore[arg-type]

    return _folder


# Test sessions running side by side (several worktrees) take turns on those databases: a
# lock key in them would be flushed, so it lives in database 0 with an expiry.
LOCK_KEY = "pitstop:tests:materialize-redis-lock"
LOCK_SECONDS, LOCK_WAIT_SECONDS = 600, 1200


@pytest.fixture
def redis_urls() -> Iterator[tuple[str, ...]]:
    """URLs of the test's Redis databases, held alone, flushed before and after."""
    urls = tuple(f"redis://127.0.0.1:6379/{db}" for db in REDIS_DBS)
    lock = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    lock.ping()  # no Redis server: the test fails here, loudly
    token = f"{os.getpid()}-{uuid.uuid4()}"
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not lock.set(LOCK_KEY, token, nx=True, ex=LOCK_SECONDS):
        assert time.monotonic() < deadline, f"{LOCK_KEY} held by another test session"
        time.sleep(0.5)
    clients = [redis.Redis.from_url(url) for url in urls]
    try:
        for client in clients:
            client.flushdb()
        yield urls
        for client in clients:
            client.flushdb()
    finally:
        for client in clients:
            client.close()
        if lock.get(LOCK_KEY) == token.encode():
            lock.delete(LOCK_KEY)
        lock.close()
