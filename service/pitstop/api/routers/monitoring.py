"""Monitoring routes: ``GET /monitoring/status`` (JSON), ``GET /status`` (HTML page), and the
serving logger the lookup route hands each lookup to.

The status is computed in the thread pool (a DuckDB pass per view, plus the skew check's
offline recomputation) and cached for :data:`CACHE_SECONDS` per app, so a dashboard refreshing
every few seconds or Prometheus scraping ``/metrics`` costs one computation per interval. The
Prometheus collector (:mod:`pitstop.monitoring.metrics`) reads the same cache.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from pitstop.api.deps import SettingsDep
from pitstop.monitoring import metrics
from pitstop.monitoring.report import html_page
from pitstop.monitoring.serving_log import ServingLogger
from pitstop.monitoring.status import MonitoringStatus, compute_status
from pitstop.settings import Settings

router = APIRouter(tags=["monitoring"])

CACHE_SECONDS = 30.0
_lock = threading.Lock()
# The newest status any app of this process computed, for the Prometheus collector.
_latest: dict[str, MonitoringStatus] = {}


def get_serving_log(request: Request) -> ServingLogger:
    """The app's serving logger, made on first use from its settings."""
    state = request.app.state
    logger = getattr(state, "serving_log", None)
    if logger is None:
        with _lock:
            logger = getattr(state, "serving_log", None)
            if logger is None:
                settings: Settings = state.serving.settings
                logger = ServingLogger(settings.serving_logs_dir, settings.serving_log_rate)
                state.serving_log = logger
    return logger


ServingLogDep = Annotated[ServingLogger, Depends(get_serving_log)]


@router.get("/monitoring/status")
async def monitoring_status(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Freshness, drift, null rates and skew per feature view (shape: pitstop.monitoring.status)."""
    status = await _status(request, settings)
    return status.to_json()


@router.get("/status", response_class=HTMLResponse)
async def status_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The status page: server-rendered HTML with inline SVG charts, no script, no requests."""
    status = await _status(request, settings)
    logger = getattr(request.app.state, "serving_log", None)
    serving = logger.stats.snapshot() if isinstance(logger, ServingLogger) else None
    return HTMLResponse(html_page(status, serving))


async def _status(request: Request, settings: Settings) -> MonitoringStatus:
    state = request.app.state
    cached = getattr(state, "monitoring_cache", None)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        status: MonitoringStatus = cached[1]
        return status
    status = await run_in_threadpool(compute_status, settings)
    state.monitoring_cache = (time.monotonic(), status)
    _latest["status"] = status
    return status


metrics.register(lambda: _latest.get("status"))
