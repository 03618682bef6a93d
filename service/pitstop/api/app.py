"""The lookup API: app factory and lifespan.

    uvicorn --factory pitstop.api.app:create_app      # settings from PITSTOP_DATA_DIR

The lifespan opens the Feast store once and takes a snapshot of its registry; routes get them
through :mod:`pitstop.api.deps`. With no registry yet the app still starts: ``/health``
answers and every lookup answers 503 with the command to run first.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from pitstop import feast_repo
from pitstop.api.catalog import Catalog
from pitstop.api.deps import Serving
from pitstop.api.errors import install_error_handlers
from pitstop.api.lookup import FeastOnlineReader, OnlineLookup
from pitstop.api.routers import health, monitoring, online, registry
from pitstop.errors import MissingInputError
from pitstop.settings import Settings

logger = logging.getLogger("pitstop.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The lookup API on one data folder (default: ``Settings.from_env()``)."""
    app = FastAPI(
        title="pitstop lookup API",
        summary="Online feature lookups in Feast's wire format.",
        lifespan=lifespan,
    )
    app.state.serving = Serving(settings=settings or Settings.from_env())
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(online.router)
    app.include_router(registry.router)
    app.include_router(monitoring.router)
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    serving = app.state.serving
    assert isinstance(serving, Serving)
    try:
        await run_in_threadpool(_open, serving)
    except MissingInputError as error:
        logger.warning("serving no lookups: %s", error)
        serving.unavailable = error
    yield
    serving.lookup = serving.catalog = serving.store = None


def _open(serving: Serving) -> None:
    """Open the Feast store and snapshot its registry (Feast's import takes seconds)."""
    settings = serving.settings
    if not settings.registry_path.exists():
        # Says which step comes first: `pitstop build` or `pitstop apply`. With a registry the
        # API needs no feature tables, only the online store.
        feast_repo.require_registry(settings)
    store = feast_repo.open_store(settings)
    if store.config.online_store.type == "sqlite" and not settings.online_store_path.exists():
        raise MissingInputError(
            f"no online store at {settings.online_store_path}; run `pitstop materialize` first"
        )
    catalog = Catalog.from_store(store)
    serving.store, serving.catalog = store, catalog
    serving.lookup = OnlineLookup(catalog=catalog, reader=FeastOnlineReader(store, catalog))
    logger.info(
        "serving %d feature views and %d feature services from %s",
        len(catalog.views),
        len(catalog.services),
        settings.registry_path,
    )


__all__ = ["create_app", "lifespan"]
