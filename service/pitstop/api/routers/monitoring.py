"""Monitoring routes: ``GET /monitoring/status`` (JSON), ``GET /status`` (HTML page), and the
serving logger the lookup route hands each lookup to.

The status is computed in the thread pool (a DuckDB pass per view, plus the skew check's
offline recomputation) and cached for :data:`CACHE_SECONDS` per app, so a dashboard refreshing
every few seconds or Prometheus scraping ``/metrics`` costs one computation per interval. The
Prometheus collector (:mod:`pitstop.monitoring.metrics`) reads the same cache.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from pitstop.api.metrics import register_collector
from pitstop.api.schemas import error_responses
from pitstop.api.security import require_key_for_reads
from pitstop.monitoring.metrics import MonitoringCollector
from pitstop.monitoring.report import html_page
from pitstop.monitoring.serving_log import ServingLogger
from pitstop.monitoring.status import MonitoringStatus, compute_status
from pitstop.settings import Settings

router = APIRouter(
    tags=["monitoring"],
    dependencies=[Depends(require_key_for_reads)],
    responses=error_responses(401, 503),
)
logger = logging.getLogger("pitstop.api")

CACHE_SECONDS = 30.0
_lock = threading.Lock()


class _Latest:
    """The newest status of this process, for the Prometheus collector.

    A scrape never waits for a computation: when the status is older than
    :data:`CACHE_SECONDS`, it starts one in a thread and answers with what it has (nothing on
    the very first scrape). The settings are those of the app that served the last monitoring
    request, else the environment's (what ``pitstop serve`` uses).
    """

    def __init__(self) -> None:
        self.status: MonitoringStatus | None = None
        self.at = 0.0
        self.settings: Settings | None = None
        self._refreshing = threading.Lock()

    def store(self, status: MonitoringStatus, settings: Settings) -> None:
        self.status, self.at, self.settings = status, time.monotonic(), settings

    def for_metrics(self) -> MonitoringStatus | None:
        if time.monotonic() - self.at >= CACHE_SECONDS and self._refreshing.acquire(False):
            threading.Thread(target=self._refresh, name="pitstop-monitoring", daemon=True).start()
        return self.status

    def _refresh(self) -> None:
        try:
            settings = self.settings or Settings.from_env()
            self.store(compute_status(settings), settings)
        except Exception:  # no baseline yet, a broken table: the metrics just stay absent
            logger.warning("monitoring status for /metrics failed", exc_info=True)
            self.at = time.monotonic()
        finally:
            self._refreshing.release()


_latest = _Latest()


def serving_log_of(app: FastAPI) -> ServingLogger:
    """The app's serving logger, made on first use from its settings."""
    state = app.state
    serving_log = getattr(state, "serving_log", None)
    if serving_log is None:
        with _lock:
            serving_log = getattr(state, "serving_log", None)
            if serving_log is None:
                settings = _settings(app)
                serving_log = ServingLogger(settings.serving_logs_dir, settings.serving_log_rate)
                state.serving_log = serving_log
    assert isinstance(serving_log, ServingLogger)
    return serving_log


async def get_serving_log(request: Request) -> ServingLogger:
    return serving_log_of(request.app)


ServingLogDep = Annotated[ServingLogger, Depends(get_serving_log)]


def _settings(app: FastAPI) -> Settings:
    """The app's settings (``app.state.serving.settings``, whatever the Serving class is)."""
    settings = getattr(app.state.serving, "settings", None)
    if not isinstance(settings, Settings):
        raise RuntimeError("the app was not built by pitstop.api.create_app")
    return settings


@router.get("/monitoring/status")
async def monitoring_status(request: Request) -> dict[str, Any]:
    """Freshness, drift, null rates and skew per feature view (shape: pitstop.monitoring.status)."""
    status = await _status(request, _settings(request.app))
    return status.to_json()


@router.get("/status", response_class=HTMLResponse)
async def status_page(request: Request) -> HTMLResponse:
    """The status page: server-rendered HTML with inline SVG charts, no script, no requests."""
    status = await _status(request, _settings(request.app))
    serving_log = getattr(request.app.state, "serving_log", None)
    serving = serving_log.stats.snapshot() if isinstance(serving_log, ServingLogger) else None
    return HTMLResponse(html_page(status, serving))


async def _status(request: Request, settings: Settings) -> MonitoringStatus:
    state = request.app.state
    cached = getattr(state, "monitoring_cache", None)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        status: MonitoringStatus = cached[1]
        return status
    status = await run_in_threadpool(compute_status, settings)
    state.monitoring_cache = (time.monotonic(), status)
    _latest.store(status, settings)
    return status


register_collector(MonitoringCollector(_latest.for_metrics))
