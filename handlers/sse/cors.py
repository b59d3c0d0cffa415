"""The CORS contract of the SSE Function URL (FR-015, FR-082, FR-119) in one place.

In AWS the Function URL answers preflights itself from its ``cors`` block (the program builds that block
from these constants), so the app never sets CORS headers there. Off AWS (the local demo and the browser
tests) ``FunctionUrlCors`` emulates what the Function URL does, from the *same* constants, so the browser
test exercises exactly the headers that will be deployed.
"""
from __future__ import annotations

from typing import Iterable, Sequence

#: Request headers the browser client may send: the trace header (FR-015), replay (FR-081), the
#: configuration stream's bearer token, and content-type.
ALLOW_HEADERS: tuple[str, ...] = ("authorization", "content-type", "last-event-id", "x-amzn-trace-id")
#: Response headers the browser may read: the trace id (FR-082).
EXPOSE_HEADERS: tuple[str, ...] = ("x-amzn-trace-id",)
ALLOW_METHODS: tuple[str, ...] = ("GET",)
#: Preflight cache (FR-119).
MAX_AGE: int = 7200


class FunctionUrlCors:
    """ASGI middleware that behaves like a Function URL's CORS configuration (for local use only)."""

    def __init__(self, app, allow_origins: Sequence[str] = ("*",)):
        self.app = app
        self.allow_origins = tuple(allow_origins)

    def _origin_allowed(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins

    def _allow_origin_value(self, origin: str) -> str:
        return "*" if "*" in self.allow_origins else origin

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return
        if not origin or not self._origin_allowed(origin):
            return await self.app(scope, receive, send)

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                extra = [(b"access-control-allow-origin", self._allow_origin_value(origin).encode()),
                         (b"access-control-expose-headers", ",".join(EXPOSE_HEADERS).encode()),
                         (b"vary", b"Origin")]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, headers: dict[str, str], send) -> None:
        requested_method = headers.get("access-control-request-method", "").upper()
        requested = _split(headers.get("access-control-request-headers", ""))
        ok = (self._origin_allowed(origin) and requested_method in ALLOW_METHODS
              and all(h in ALLOW_HEADERS for h in requested))
        response_headers = [(b"content-length", b"0")]
        if ok:
            response_headers += [
                (b"access-control-allow-origin", self._allow_origin_value(origin).encode()),
                (b"access-control-allow-methods", ",".join(ALLOW_METHODS).encode()),
                (b"access-control-allow-headers", ",".join(ALLOW_HEADERS).encode()),
                (b"access-control-expose-headers", ",".join(EXPOSE_HEADERS).encode()),
                (b"access-control-max-age", str(MAX_AGE).encode()), (b"vary", b"Origin")]
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})


def _split(value: str) -> Iterable[str]:
    return [h.strip().lower() for h in value.split(",") if h.strip()]
