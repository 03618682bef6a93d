"""The lookup API: app factory and lifespan.

    uvicorn --factory --loop asyncio pitstop.api.app:create_app   # settings: PITSTOP_* variables

The lifespan compiles the lookup plans from the Feast registry and opens the online store
(:class:`~pitstop.api.serving.Serving`), then re-checks both every second in the background:
a ``pitstop apply`` is picked up without a restart, and a store that went away and came back
is served again. It also starts the serving log's writer process and stops it at shutdown.
Nothing here imports Feast, so the API is ready within a few seconds.
With no registry yet the app still starts: ``/health`` answers, ``/ready`` and lookups answer
503 with the command to run first.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from pitstop.api.body_limit import BodyLimitMiddleware
from pitstop.api.errors import install_error_handlers
from pitstop.api.metrics import MetricsMiddleware
from pitstop.api.routers import docs, health, monitoring, online, push, registry
from pitstop.api.serving import POLL_SECONDS, Serving
from pitstop.settings import Settings

logger = logging.getLogger("pitstop.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The lookup API on one data folder (default: ``Settings.from_env()``)."""
    app = FastAPI(
        title="pitstop lookup API",
        summary="Online feature lookups in Feast's wire format.",
        lifespan=lifespan,
        # served by routers.docs instead, behind the API key when reads ask for it
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.serving = Serving(settings or Settings.from_env())
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=app.state.serving.settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    app.include_router(health.router)
    app.include_router(online.router)
    app.include_router(push.router)
    app.include_router(registry.router)
    app.include_router(monitoring.router)
    app.include_router(docs.router)
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    serving: Serving = app.state.serving
    await run_in_threadpool(serving.refresh)
    if serving.problem is not None:
        logger.warning("not ready yet: %s", serving.problem)
    serving_log = monitoring.serving_log_of(app)
    if serving_log.rate > 0:
        serving_log.start()  # the writer process, before the first lookup needs it
    # What start-up made lives as long as the app: out of the collector's reach, so a full
    # collection during a lookup does not walk it.
    gc.freeze()
    watcher = asyncio.create_task(_keep_current(serving))
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        serving.close()
        await run_in_threadpool(serving_log.close)


async def _keep_current(serving: Serving) -> None:
    """Recompile on registry changes and re-check the store, every POLL_SECONDS."""
    while True:
        await asyncio.sleep(POLL_SECONDS)
        await run_in_threadpool(serving.refresh)


__all__ = ["create_app", "lifespan"]
