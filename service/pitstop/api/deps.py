"""Dependencies: what routes get from the app's state, as ``Annotated`` aliases.

``create_app`` puts a :class:`~pitstop.api.serving.Serving` on ``app.state.serving``.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from pitstop.api.catalog import Catalog
from pitstop.api.serving import Serving
from pitstop.errors import MissingInputError


# Dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its
# thread pool, a hop that cost more than a whole one-entity lookup.
async def get_serving(request: Request) -> Serving:
    return serving_of(request)


def serving_of(request: Request) -> Serving:
    serving = request.app.state.serving
    if not isinstance(serving, Serving):
        raise RuntimeError("the app was not built by pitstop.api.create_app")
    return serving


async def get_catalog(request: Request) -> Catalog:
    serving = serving_of(request)
    compiled = serving.compiled
    if compiled is None:
        raise serving.problem or MissingInputError("the registry is not loaded yet")
    return compiled.catalog


ServingDep = Annotated[Serving, Depends(get_serving)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]


Body = TypeVar("Body", bound=BaseModel)


def parse_body(model: type[Body], raw: bytes) -> Body:
    """A JSON body as ``model``, parsed in one step from its bytes (no dict on the way);
    anything unparseable (bytes that are not UTF-8, malformed JSON, a schema mismatch) is the
    422 of a ``RequestValidationError`` (api/errors.py), as FastAPI's own parsing answers it."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as invalid:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in invalid.errors()]
        ) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that parses ``model`` itself (:func:`parse_body`)."""
    return {
        "required": True,
        "content": {"application/json": {"schema": model.model_json_schema()}},
    }
