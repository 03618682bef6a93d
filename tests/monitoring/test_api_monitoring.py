"""The monitoring routes on a real `pitstop serve` with serving logs on, and the status page in a
real headless browser (Debian's chromium, driven by Playwright over the DevTools protocol)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from pitstop.api.background import api_in_background
from pitstop.settings import SERVING_LOG_RATE_ENV, Settings
from tests.monitoring.conftest import Monitored, copy_of

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PAGE_LIMIT_BYTES = 150_000


@pytest.fixture(scope="module")
def served(
    monitored: Monitored, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, httpx.Client]]:
    """A copy of the monitored folder behind a real API that logs every lookup."""
    settings = copy_of(monitored, tmp_path_factory.mktemp("served") / "data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SERVING_LOG_RATE_ENV, "1")
        with api_in_background(settings, log_path=settings.data_dir / "api.log") as server:
            server.wait_until_healthy()
            with httpx.Client(base_url=server.base_url, timeout=60.0) as client:
                _lookups(client)
                _wait_for_logs(settings)
                yield settings, client


def _lookups(client: httpx.Client) -> None:
    for first in range(1, 31, 10):
        users = list(range(first, first + 10))
        for body in (
            {"feature_service": "churn_v1", "entities": {"user_id": users}},
            {"feature_service": "ranking_v1", "entities": {"user_id": users, "item_id": users}},
            {"features": ["user_activity:events_7d"], "entities": {"user_id": users}},
        ):
            response = client.post("/get-online-features", json=body)
            assert response.status_code == 200, response.text
        # an entity column no view has (issue 20): it was answered 200, and once the serving
        # log sampled it the monitoring answered 500; refused, naming it, and never logged
        extra = {"feature_service": "churn_v1", "entities": {"user_id": users, "zzz": users}}
        response = client.post("/get-online-features", json=extra)
        assert response.status_code == 422, response.text
        assert "unknown column(s) 'zzz'" in response.json()["detail"]


def _wait_for_logs(settings: Settings, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(settings.serving_logs_dir.glob("date=*/part-*.parquet")):
            time.sleep(1.5)  # the writer flushes once a second; let it finish the batch
            return
        time.sleep(0.2)
    raise AssertionError(f"no serving log under {settings.serving_logs_dir}")


def test_lookups_are_logged_and_match_offline(served: tuple[Settings, httpx.Client]) -> None:
    _, client = served
    response = client.get("/monitoring/status")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["status"] == "ok", body
    assert set(body) == {"status", "baseline_note", "feature_views"}
    assert body["baseline_note"] is None  # this folder has a baseline
    events = body["feature_views"]["user_activity"]["features"]["events_7d"]
    assert events["skew"] == {"stale_rate": 0.0, "wrong_rate": 0.0}
    item = body["feature_views"]["item_popularity"]["features"]["item_views_7d"]
    assert item["skew"] == {"stale_rate": 0.0, "wrong_rate": 0.0}
    assert body["feature_views"]["item_popularity"]["freshness"]["status"] == "ok"
    settings, _ = served
    keys = {
        key
        for path in settings.serving_logs_dir.glob("date=*/part-*.parquet")
        for key in pq.read_table(path, columns=["entity_key"]).column(0).to_pylist()
    }
    assert keys and not any("zzz" in key for key in keys)  # logged by the lookup's join keys


def test_status_page_in_a_headless_browser(served: tuple[Settings, httpx.Client]) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: `make test` installs it"
    _, client = served
    page_html = client.get("/status")
    assert page_html.status_code == 200
    assert page_html.headers["content-type"].startswith("text/html")
    assert len(page_html.content) < PAGE_LIMIT_BYTES
    assert "<script" not in page_html.text
    url = str(client.base_url) + "/status"
    console: list[str] = []
    requests: list[str] = []
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            page.on("request", lambda request: requests.append(request.url))
            page.on("requestfailed", lambda request: failed.append(request.url))
            response = page.goto(url, wait_until="networkidle")
            assert response is not None and response.ok
            assert page.title().startswith("pitstop status: ok")
            assert page.locator("svg").count() > 10
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "status.png"), full_page=True)
        finally:
            browser.close()
    assert [line for line in console if line.startswith(("error", "pageerror"))] == []
    assert requests == [url]
    assert failed == []
    # The README's screenshot: written when missing (delete it to refresh), so a test run does
    # not leave the checkout modified.
    readme_shot = Path(__file__).resolve().parents[2] / "docs" / "status.png"
    if readme_shot.parent.is_dir() and not readme_shot.exists():
        shutil.copyfile(ARTIFACTS / "status.png", readme_shot)
