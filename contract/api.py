"""The dashboard API's routes and CORS, shared by the program (API Gateway resources, the authorizer) and the
dashboard handler (its resolver routes and CORS), so a route cannot be public in one and protected in the other.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """One route. ``path`` is in API Gateway's form (``{param}``); ``authorized`` routes need a Cognito token."""

    method: str
    path: str
    authorized: bool

    @property
    def resolver_path(self) -> str:
        """The same path in Powertools' resolver form (``<param>``)."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(p for p in self.path.split("/") if p)


#: Market data and health are public by design; a user's configuration is theirs alone.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", authorized=False),
    Route("GET", "/api/v2/items", authorized=False),
    Route("GET", "/api/v2/timeseries/{ticker}", authorized=False),
    Route("GET", "/api/v2/configurations/{config_id}", authorized=True),
)

#: The claim of a verified token that names the user (Cognito's stable user id).
USER_CLAIM = "sub"
#: Request headers a browser may send: the trace header (so a client carries its trace), the bearer token.
CORS_ALLOW_HEADERS: tuple[str, ...] = ("Authorization", "Content-Type", "X-Amzn-Trace-Id")
#: Response headers a browser may read: the trace id.
CORS_EXPOSE_HEADERS: tuple[str, ...] = ("X-Amzn-Trace-Id",)
CORS_MAX_AGE_SECONDS = 7200
#: API Gateway ends a REST integration after this many seconds (its default integration timeout), whatever the
#: function's own timeout: the dashboard must have answered by then.
GATEWAY_TIMEOUT_SECONDS = 29
