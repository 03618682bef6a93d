"""`pitstop serve --workers 2`: `/metrics` counts every request once, whichever worker took it.

Each worker process counts what it serves; a scrape lands on one of them. Forty lookups on
fresh connections spread over both workers, then every scrape must show all forty.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from pitstop.api.background import api_in_background
from pitstop.settings import Settings

LOOKUPS = 40
HEALTH_200 = re.compile(
    r'^pitstop_http_requests_total\{route="/health",status="200"\} (\S+)$', re.MULTILINE
)


def test_two_workers_count_every_request_once(trap_store: Settings, tmp_path: Path) -> None:
    with api_in_background(trap_store, log_path=tmp_path / "api.log", workers=2) as server:
        server.wait_until_healthy()
        before = _health_count(server.base_url)
        for _ in range(LOOKUPS):  # a new connection each, so the kernel spreads them
            assert httpx.get(f"{server.base_url}/health", timeout=10).status_code == 200
        scrapes = [_health_count(server.base_url) for _ in range(8)]
    assert scrapes == [before + LOOKUPS] * len(scrapes)


def _health_count(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    counts = [float(value) for value in HEALTH_200.findall(text)]
    return sum(counts)
