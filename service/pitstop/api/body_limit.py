"""Request bodies bounded before anything reads them (``PITSTOP_MAX_BODY_BYTES``).

A declared ``Content-Length`` past the limit is answered 413 at once, the body unread; a body
without one (chunked) is counted as it arrives and cut off with the same 413 once it passes
the limit. Either way the server never holds more than the limit of one request's body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pitstop.errors import RequestTooLargeError


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.limit:
                    await _answer_too_large(send, self.limit)
                    return
                break
        received = 0

        async def counted() -> Message:
            # RequestTooLargeError is a PitstopError: the API's handler answers it 413.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise RequestTooLargeError(self.limit)
            return message

        await self.app(scope, counted, send)


async def _answer_too_large(send: Send, limit: int) -> None:
    import orjson

    body = orjson.dumps({"detail": str(RequestTooLargeError(limit)), "limit": limit})
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
