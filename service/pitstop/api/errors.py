"""The one mapping from pitstop's exceptions to HTTP answers.

Every error leaves as ``{"detail": "<one line naming the problem>"}``:

=============================  ======  =====================================================
exception                      status  detail
=============================  ======  =====================================================
NotFoundError (service, view,  404     its message, naming the unknown thing
feature)
TooManyEntitiesError           413     its message, plus ``limit``: the rows allowed
RequestTooLargeError           413     its message, plus ``limit``: the bytes allowed
                                       (api/body_limit.py, before the body is read)
InvalidInputError              422     its message, naming the field or key
UnauthorizedError              401     its message (``WWW-Authenticate: Bearer``)
RequestValidationError         422     ``<where>: <what>`` per problem, plus ``errors``:
                                       ``[{"loc", "msg", "type"}]`` (the input is not echoed)
MissingInputError              503     its message and the command to run first
OnlineStoreUnavailableError    503     what is wrong with the store (the API retries it)
anything else                  500     ``internal error`` (the stack trace goes to the log
                                       only)
=============================  ======  =====================================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from pitstop.errors import (
    InvalidInputError,
    MissingInputError,
    NotFoundError,
    OnlineStoreUnavailableError,
    PitstopError,
    RequestTooLargeError,
    TooManyEntitiesError,
    UnauthorizedError,
)
from pitstop.settings import PROJECT_ROOT

logger = logging.getLogger("pitstop.api")

STATUS_BY_ERROR: tuple[tuple[type[PitstopError], int], ...] = (
    (NotFoundError, 404),
    (TooManyEntitiesError, 413),
    (RequestTooLargeError, 413),
    (InvalidInputError, 422),
    (UnauthorizedError, 401),
    (MissingInputError, 503),
    (OnlineStoreUnavailableError, 503),
)
_MAX_REPORTED = 10


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PitstopError, _pitstop_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _http_error(request: Request, error: HTTPException) -> Response:
    """Starlette's own answers (404 of an unknown route, 405...) as they are, but for one:
    FastAPI answers a body it cannot decode (bytes that are not UTF-8) with a 400 no route
    declares, where malformed JSON is a 422; that one is a 422 too."""
    if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
        detail = "body: malformed JSON (the bytes are not UTF-8)"
        return JSONResponse({"detail": detail}, status_code=422)
    return await http_exception_handler(request, error)


async def _pitstop_error(request: Request, error: PitstopError) -> JSONResponse:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            body: dict[str, Any] = {"detail": public_detail(request.app, str(error))}
            headers = {}
            if isinstance(error, (TooManyEntitiesError, RequestTooLargeError)):
                body["limit"] = error.limit
            if isinstance(error, UnauthorizedError):
                headers["WWW-Authenticate"] = "Bearer"
            return JSONResponse(body, status_code=status, headers=headers)
    return await _unexpected_error(request, error)


def public_detail(app: FastAPI, message: str) -> str:
    """A message fit for any client: the server's data folder and project folder named
    ``<data>`` and ``<project>``, not spelt out (the server's log keeps the full paths)."""
    settings = getattr(app.state.serving, "settings", None)
    if settings is not None:
        message = message.replace(str(settings.data_dir), "<data>")
    return message.replace(str(PROJECT_ROOT), "<project>")


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [_problem(item) for item in error.errors()[:_MAX_REPORTED]]
    detail = "; ".join(f"{_where(problem['loc'])}: {problem['msg']}" for problem in problems)
    return JSONResponse(
        {"detail": detail or "invalid request", "errors": problems}, status_code=422
    )


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def _problem(item: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(item.get("type", ""))
    loc = [part if isinstance(part, (str, int)) else str(part) for part in item.get("loc", ())]
    message = str(item.get("msg", ""))
    if kind == "json_invalid":
        # loc is ("body", <character offset>): the field is the body itself.
        reason = (item.get("ctx") or {}).get("error") or "not JSON"
        offset = f" at character {loc[1]}" if len(loc) > 1 else ""
        loc = loc[:1]
        message = f"malformed JSON{offset} ({reason})"
    return {"loc": loc, "msg": message, "type": kind}


def _where(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc) or "request"
