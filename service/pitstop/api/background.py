"""The lookup API in a child process on a free loopback port: for ``pitstop demo`` and tests.

    with api_in_background(settings, log_path=Path("api.log")) as api:
        api.wait_until_healthy()
        urllib.request.urlopen(f"{api.base_url}/health")

The child is ``pitstop serve``, the same command users run; it is stopped when the block ends.
Only the standard library is used, so nothing here waits on Feast's import.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pitstop.errors import BackgroundApiError
from pitstop.settings import Settings

# The API is ready in 2-3 s (it imports no Feast); leave room for a loaded machine.
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class BackgroundApi:
    """A running child API: its base URL, process and log file."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def wait_until_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Return once ``GET /health`` answers 200; raise BackgroundApiError if the child dies."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BackgroundApiError(
                    f"the API exited with code {self.process.returncode}: {self.last_log_line()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise BackgroundApiError(
            f"the API did not answer /health within {timeout_s:.0f} s; see {self.log_path}"
        )

    def last_log_line(self) -> str:
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line]
        return lines[-1][:300] if lines else "no output"


@contextlib.contextmanager
def api_in_background(
    settings: Settings, *, log_path: Path, workers: int = 1, python: str = sys.executable
) -> Iterator[BackgroundApi]:
    """``pitstop serve`` for ``settings.data_dir`` on a free port until the block ends: the
    pitstop of the ``python`` interpreter (this one unless told; a test names another
    environment's)."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings.environment()}
    command = [python, "-m", "pitstop.cli", "serve", "--quiet"]
    command += ["--data-dir", str(settings.data_dir), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)] if workers != 1 else []
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield BackgroundApi(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
