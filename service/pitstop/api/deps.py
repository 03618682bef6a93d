"""Dependencies: what routes get from the app's state, as ``Annotated`` aliases.

``create_app`` puts a :class:`Serving` on ``app.state.serving``; tests replace a dependency
with ``app.dependency_overrides`` instead of patching globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from pitstop.api.catalog import Catalog
from pitstop.api.lookup import OnlineLookup
from pitstop.errors import MissingInputError
from pitstop.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore


@dataclass
class Serving:
    """What the lifespan opened: the store and the registry snapshot, or why it could not."""

    settings: Settings
    store: FeatureStore | None = None
    catalog: Catalog | None = None
    lookup: OnlineLookup | None = None
    unavailable: MissingInputError | None = None


def get_serving(request: Request) -> Serving:
    serving = request.app.state.serving
    if not isinstance(serving, Serving):
        raise RuntimeError("the app was not built by pitstop.api.create_app")
    return serving


def get_settings(request: Request) -> Settings:
    return get_serving(request).settings


def get_catalog(request: Request) -> Catalog:
    serving = get_serving(request)
    if serving.catalog is None:
        raise serving.unavailable or MissingInputError("the Feast registry is not loaded yet")
    return serving.catalog


def get_lookup(request: Request) -> OnlineLookup:
    serving = get_serving(request)
    if serving.lookup is None:
        raise serving.unavailable or MissingInputError("the Feast store is not open yet")
    return serving.lookup


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
LookupDep = Annotated[OnlineLookup, Depends(get_lookup)]
