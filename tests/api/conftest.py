"""One real lookup API per session: uvicorn in a child process on the trap log's data folder."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pitstop.api.background import api_in_background
from pitstop.settings import Settings


@pytest.fixture(scope="session")
def api_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API server's stdout and stderr."""
    return tmp_path_factory.mktemp("api") / "server.log"


@pytest.fixture(scope="session")
def api_url(trap_store: Settings, api_log: Path) -> Iterator[str]:
    """Base URL of a real `pitstop serve` (uvicorn, child process) serving trap_store.

    The trap log is from March 2026, stale today: this server serves without the online
    ageing (as Feast does), so its answers can be compared with Feast's;
    tests/online/test_staleness.py covers the ageing.
    """
    settings = dataclasses.replace(trap_store, online_ttl=False, serving_log_rate=0.0)
    with api_in_background(settings, log_path=api_log) as server:
        server.wait_until_healthy()
        yield server.base_url


@pytest.fixture(scope="session")
def api(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        yield client


@contextlib.contextmanager
def client_of_api(settings: Settings, log_path: Path, online_store: str) -> Iterator[httpx.Client]:
    """An HTTP client of a real API serving ``settings``, checked to be ready on the
    ``online_store`` its ``/ready`` names."""
    with api_in_background(settings, log_path=log_path) as server:
        server.wait_until_healthy()
        with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
            assert client.get("/ready").json()["online_store"] == online_store
            yield client
