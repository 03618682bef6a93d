"""Prometheus metrics of the lookup API, served on ``GET /metrics``.

Requests by route and status, a latency histogram per route, entity rows looked up, and
features answered NOT_FOUND or OUTSIDE_MAX_AGE. A plain ASGI middleware (not Starlette's
``BaseHTTPMiddleware``, which costs a task per request) counts every request; the route is its
template (``/features/{feature_service}``), so labels stay few.

With several workers (``pitstop serve --workers N``) each is a process of its own and a scrape
lands on one of them, so the counters live in prometheus_client's multiprocess mode: the CLI
points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start, each worker
writes its values there, and :func:`exposition` adds them up. The monitoring collector reads
the status each process caches, so it is added to the scrape as it is
(:func:`register_collector`).
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Set by `pitstop serve --workers N` (N > 1) before the workers import this module.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The *_created series double what Prometheus stores for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "pitstop_http_requests_total", "HTTP requests by route and status.", ["route", "status"]
)
LATENCY = Histogram(
    "pitstop_http_request_duration_seconds",
    "Time from request to response, by route.",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5),
)
ENTITIES = Counter(
    "pitstop_online_entities_total", "Entity rows looked up, by feature service.", ["service"]
)
FEATURE_STATUSES = Counter(
    "pitstop_online_feature_statuses_total",
    "Feature values answered without a value, by status (NOT_FOUND, OUTSIDE_MAX_AGE).",
    ["status"],
)
NOT_FOUND = FEATURE_STATUSES.labels("NOT_FOUND")
OUTSIDE_MAX_AGE = FEATURE_STATUSES.labels("OUTSIDE_MAX_AGE")


def count_lookup(service: str | None, rows: int, not_found: int, outside_max_age: int) -> None:
    ENTITIES.labels(service or "features").inc(rows)
    if not_found:
        NOT_FOUND.inc(not_found)
    if outside_max_age:
        OUTSIDE_MAX_AGE.inc(outside_max_age)


_process_collectors: list[Collector] = []


def register_collector(collector: Collector) -> None:
    """Add a collector of this process's own values (not counted per worker) to the scrape."""
    REGISTRY.register(collector)
    _process_collectors.append(collector)


def exposition() -> tuple[bytes, str]:
    """The text exposition format of every metric: with several workers, their counters added
    up from the multiprocess folder, and this process's own collectors."""
    folder = os.environ.get(MULTIPROCESS_DIR_ENV)
    if not folder:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    for collector in _process_collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self._timer(template).observe(time.perf_counter() - started)
            self._counter(template, status).inc()

    def _counter(self, route: str, status: int) -> Any:
        key = (route, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = REQUESTS.labels(route, str(status))
        return child

    def _timer(self, route: str) -> Any:
        child = self._timers.get(route)
        if child is None:
            child = self._timers[route] = LATENCY.labels(route)
        return child
