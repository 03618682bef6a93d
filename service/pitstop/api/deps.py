"""Dependencies: what routes get from the app's state, as ``Annotated`` aliases.

``create_app`` puts a :class:`~pitstop.api.serving.Serving` on ``app.state.serving``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pitstop.api.catalog import Catalog
from pitstop.api.serving import Serving
from pitstop.errors import MissingInputError


def get_serving(request: Request) -> Serving:
    serving = request.app.state.serving
    if not isinstance(serving, Serving):
        raise RuntimeError("the app was not built by pitstop.api.create_app")
    return serving


def get_catalog(request: Request) -> Catalog:
    compiled = get_serving(request).compiled
    if compiled is None:
        raise get_serving(request).problem or MissingInputError("the registry is not loaded yet")
    return compiled.catalog


ServingDep = Annotated[Serving, Depends(get_serving)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
