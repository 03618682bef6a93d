"""One real lookup API per session: uvicorn in a child process on the trap log's data folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from pitstop import feast_repo
from pitstop.settings import DATA_DIR_ENV, PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from feast import FeatureStore

STARTUP_TIMEOUT_S = 60.0  # `import feast` alone takes about 9 s on this machine kind


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def api_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API server's stdout and stderr."""
    return tmp_path_factory.mktemp("api") / "server.log"


@pytest.fixture(scope="session")
def api_url(trap_store: Settings, api_log: Path) -> Iterator[str]:
    """Base URL of `uvicorn --factory pitstop.api.app:create_app` serving trap_store."""
    port = _free_port()
    env = {**os.environ, DATA_DIR_ENV: str(trap_store.data_dir)}
    command = [sys.executable, "-m", "uvicorn", "--factory", "pitstop.api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with api_log.open("wb") as log:
        server = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"the API exited with {server.returncode}:\n{_log_tail(api_log)}")
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the API did not answer /health in {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def api(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="session")
def local_store(trap_store: Settings) -> FeatureStore:
    """Feast itself on the same data folder, in the test process: the reference answers."""
    store: FeatureStore = feast_repo.open_store(trap_store)
    return store
