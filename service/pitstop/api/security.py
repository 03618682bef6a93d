"""The optional API key: ``PITSTOP_API_KEY`` asked for on writes, and on reads when
``PITSTOP_API_KEY_READS`` is on. Sent as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from pitstop.errors import UnauthorizedError

# The two ways to send the key, as OpenAPI security schemes (the Authorize button of /docs).
# They only describe the headers: the check below reads them itself, and an absent key is
# judged there (auto_error off), so a server without PITSTOP_API_KEY asks for nothing.
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="PITSTOP_API_KEY, when the server sets one"
)
BEARER = HTTPBearer(auto_error=False, description="PITSTOP_API_KEY as a bearer token")
KeyHeader = Annotated[str | None, Security(API_KEY_HEADER)]
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
# For a route that checks the key without a dependency (the hot lookup route).
SECURITY: list[dict[str, list[Any]]] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]


def _check(request: Request, required: bool) -> None:
    settings = request.app.state.serving.settings
    if not required or settings.api_key is None:
        return
    given = request.headers.get("x-api-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token if scheme.lower() == "bearer" else None
    if given is None or not hmac.compare_digest(given.encode(), settings.api_key.encode()):
        raise UnauthorizedError(
            "missing or wrong API key (send X-API-Key or Authorization: Bearer)"
        )


async def require_key_for_writes(
    request: Request,
    _header: KeyHeader = None,
    _bearer: BearerToken = None,
) -> None:
    _check(request, required=True)


async def require_key_for_reads(
    request: Request,
    _header: KeyHeader = None,
    _bearer: BearerToken = None,
) -> None:
    check_read_key(request)


def check_read_key(request: Request) -> None:
    """:func:`require_key_for_reads` as a plain call, for a route that skips dependencies."""
    _check(request, required=request.app.state.serving.settings.api_key_on_reads)
