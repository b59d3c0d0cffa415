"""A stand-in for the SSE function's Function URL: its CORS, as Lambda applies it (FR-015, FR-082, FR-119).

In AWS the Function URL answers preflights itself from its ``cors`` block, which the program builds from
``contract.streaming``, so the app never sets CORS headers. Off AWS (the local demo and the browser tests)
``FunctionUrlCors`` wraps the app and does what the Function URL does, from the same constants, so the
browser exercises exactly the headers that are deployed. Never part of the image.
"""
from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.streaming import CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS


class FunctionUrlCors:
    """ASGI middleware that answers like a Function URL with ``cors.allow_origins = allow_origins``."""

    def __init__(self, app: ASGIApp, allow_origins: Sequence[str] = ("*",)):
        self.app = app
        self.allow_origins = tuple(allow_origins)

    def _origin_allowed(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins

    def _allow_origin_value(self, origin: str) -> str:
        return "*" if "*" in self.allow_origins else origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return
        if not origin or not self._origin_allowed(origin):
            return await self.app(scope, receive, send)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"access-control-allow-origin", self._allow_origin_value(origin).encode()),
                         (b"access-control-expose-headers", ",".join(CORS_EXPOSE_HEADERS).encode()),
                         (b"vary", b"Origin")]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, headers: dict[str, str], send: Send) -> None:
        requested_method = headers.get("access-control-request-method", "").upper()
        requested = _split(headers.get("access-control-request-headers", ""))
        ok = (self._origin_allowed(origin) and requested_method in CORS_ALLOW_METHODS
              and all(h in CORS_ALLOW_HEADERS for h in requested))
        response_headers = [(b"content-length", b"0")]
        if ok:
            response_headers += [
                (b"access-control-allow-origin", self._allow_origin_value(origin).encode()),
                (b"access-control-allow-methods", ",".join(CORS_ALLOW_METHODS).encode()),
                (b"access-control-allow-headers", ",".join(CORS_ALLOW_HEADERS).encode()),
                (b"access-control-expose-headers", ",".join(CORS_EXPOSE_HEADERS).encode()),
                (b"access-control-max-age", str(CORS_MAX_AGE_SECONDS).encode()), (b"vary", b"Origin")]
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})


def _split(value: str) -> list[str]:
    return [h.strip().lower() for h in value.split(",") if h.strip()]
