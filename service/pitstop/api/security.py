"""The optional API key: ``PITSTOP_API_KEY`` asked for on writes, and on reads when
``PITSTOP_API_KEY_READS`` is on. Sent as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``."""

from __future__ import annotations

import hmac

from fastapi import Request

from pitstop.errors import UnauthorizedError


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


async def require_key_for_writes(request: Request) -> None:
    _check(request, required=True)


async def require_key_for_reads(request: Request) -> None:
    check_read_key(request)


def check_read_key(request: Request) -> None:
    """:func:`require_key_for_reads` as a plain call, for a route that skips dependencies."""
    _check(request, required=request.app.state.serving.settings.api_key_on_reads)
