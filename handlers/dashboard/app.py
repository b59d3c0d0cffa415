"""Dashboard API: API Gateway REST -> Powertools ``APIGatewayRestResolver`` serving ``/api/v2/*`` and ``/health``.

* Routes: registered from ``contract.api.ROUTES``, the table the program builds the API Gateway resources
  and the authorizer from; a view without a route, or a route without a view, fails the import.
* The user: on an authorized route, the ``sub`` claim of the token API Gateway's Cognito authorizer verified
  (``requestContext.authorizer.claims``); never a header. No claim is a 401.
* CORS: Powertools' ``CORSConfig`` with the origins of ``CORS_ALLOW_ORIGINS`` (the first is ``allow_origin``,
  the others ``extra_origins``). An allowed origin is reflected on every response and preflight, a foreign one
  gets no CORS header; no configured origin (or ``*``) stops the function at import (fail closed).
* Input: query and path parameters are typed and validated by the resolver (pydantic); anything invalid is a
  400 whose message names the parameter and the reason, never a 5xx.
* Time: the invocation's deadline is capped at API Gateway's 29 s, so a slow data store gives a 503 with a
  reason before the gateway gives up; API Gateway's trace id arrives in ``_X_AMZN_TRACE_ID`` and each DynamoDB
  call is an auto-patched subsegment under the route's ``## ...`` subsegment.
"""
# No ``from __future__ import annotations``: the resolver reads the views' parameter types at import to
# validate requests, and postponed (string) annotations would leave it nothing to resolve them against.
import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, Optional

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError, UnauthorizedError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from common import annotate, lambda_handler, logger, require_env, table, tracer
from common.config import MissingEnvironmentError
from common.tracing import LOG_MESSAGE_LIMIT, bounded_message
from contract import env
from contract.api import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
    GATEWAY_TIMEOUT_SECONDS,
    ROUTES,
    USER_CLAIM,
    Route,
)
from contract.data import ITEMS_BY_SENTIMENT, ITEMS_BY_TAG, RESOLUTIONS, TICKER_PATTERN

MAX_LIMIT = 100
ITEM_FIELDS = ("source_id", "timestamp", "ticker", "title", "url", "sentiment", "score", "status")
#: How many validation errors a 400's message names (the first ones).
MAX_REASONS = 5

Sentiment = Literal["positive", "negative", "neutral"]
Resolution = Literal[RESOLUTIONS]  # type: ignore[valid-type]  # the contract's tuple: valid at runtime, mypy wants literals
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"1 to {MAX_LIMIT} results")]
Ticker = Annotated[str, Query(pattern=TICKER_PATTERN)]
TickerPath = Annotated[str, Path(pattern=TICKER_PATTERN)]
ConfigId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class ConfigurationError(MissingEnvironmentError):
    """The function's configuration is unusable: it refuses to start rather than serve insecurely."""


def cors_config(raw: Optional[str]) -> CORSConfig:
    """``CORS_ALLOW_ORIGINS`` (comma-separated) as Powertools' CORS config; none, or ``*``, is an error."""
    origins = [o.strip() for o in (raw or "").split(",") if o.strip()]
    if not origins or "*" in origins:
        raise ConfigurationError(f"{env.CORS_ALLOW_ORIGINS} must list the allowed origins (at least one, never '*'), "
                                 f"got {raw!r}")
    return CORSConfig(allow_origin=origins[0], extra_origins=origins[1:], allow_headers=list(CORS_ALLOW_HEADERS),
                      expose_headers=list(CORS_EXPOSE_HEADERS), max_age=CORS_MAX_AGE_SECONDS)


app = APIGatewayRestResolver(strip_prefixes=[], enable_validation=True,
                             cors=cors_config(os.environ.get(env.CORS_ALLOW_ORIGINS)))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _message(status: int, text: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body={"statusCode": status, "message": text})


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    """A 400 naming each invalid parameter and why (``query.limit: Input should be ...``), never its value."""
    errors = exc.errors()
    text = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:MAX_REASONS])
    return _message(400, text + (f"; and {len(errors) - MAX_REASONS} more" if len(errors) > MAX_REASONS else ""))


@app.exception_handler([BotoCoreError, ClientError])
def _unavailable(exc: Exception) -> Response:
    """The data store failed or did not answer within the time left: a 503 the client may retry."""
    logger.error("data store unavailable", extra={"exception_type": type(exc).__name__,
                                                  "exception_message": bounded_message(exc, LOG_MESSAGE_LIMIT)})
    return _message(503, "the data store is unavailable or too slow right now; retry later")


def user_id() -> str:
    """The caller, from the claims API Gateway's Cognito authorizer verified; a request without them is a 401."""
    claims = app.current_event.request_context.authorizer.claims
    user = claims.get(USER_CLAIM) if isinstance(claims, Mapping) else None
    if not isinstance(user, str) or not user:
        raise UnauthorizedError("this route needs a signed-in user (a verified token)")
    return user


def _require_user(app: APIGatewayRestResolver, next_middleware: Callable[..., Response]) -> Response:
    app.append_context(user_id=user_id())
    return next_middleware(app)


# -- views ---------------------------------------------------------------------------------------------------------
def health() -> dict[str, str]:
    return {"status": "ok"}


@tracer.capture_method
def list_items(sentiment: Annotated[Optional[Sentiment], Query()] = None, ticker: Optional[Ticker] = None,
               limit: Limit = 20) -> dict[str, Any]:
    """Newest items by sentiment (``by_sentiment``) or by ticker (``by_tag``)."""
    cfg = require_env(*env.REQUIRED["dashboard"])
    if (sentiment is None) == (ticker is None):
        raise BadRequestError("give exactly one of the query parameters 'sentiment' or 'ticker'")
    # exactly one is given: "no ticker" is "by sentiment", and spelled so the type of ``ticker`` narrows
    index, key = (ITEMS_BY_SENTIMENT, Key("sentiment").eq(sentiment)) if ticker is None else (
        ITEMS_BY_TAG, Key("tag").eq(ticker.upper()))
    annotate(route="items", query_index=index)
    resp = table(cfg[env.ITEMS_TABLE]).query(IndexName=index, KeyConditionExpression=key, ScanIndexForward=False,
                                           Limit=limit)
    items = [{k: item[k] for k in ITEM_FIELDS if k in item} for item in resp.get("Items", [])]
    return {"items": _plain(items), "count": len(items)}


@tracer.capture_method
def timeseries(ticker: TickerPath, resolution: Annotated[Resolution, Query()] = "1h",
               limit: Limit = 20) -> dict[str, Any]:
    cfg = require_env(*env.REQUIRED["dashboard"])
    annotate(route="timeseries", resolution=resolution)
    resp = table(cfg[env.TIMESERIES_TABLE]).query(KeyConditionExpression=Key("pk").eq(f"{ticker.upper()}#{resolution}"),
                                                ScanIndexForward=False, Limit=limit)
    return {"ticker": ticker.upper(), "resolution": resolution, "buckets": _plain(resp.get("Items", []))}


@tracer.capture_method
def configuration(config_id: ConfigId) -> dict[str, Any]:
    cfg = require_env(*env.REQUIRED["dashboard"])
    annotate(route="configuration")
    user = app.context["user_id"]
    item = table(cfg[env.USERS_TABLE]).get_item(Key={"PK": f"USER#{user}", "SK": f"CONFIG#{config_id}"}).get("Item")
    if item is None:
        raise NotFoundError(f"configuration {config_id} not found")
    return _plain({"config_id": config_id, "name": item.get("name", ""), "tickers": item.get("tickers", []),
                   "status": item.get("status", "")})


#: Each route of the contract, by (method, API Gateway path), and the view that serves it.
VIEWS: dict[tuple[str, str], Callable[..., Any]] = {
    ("GET", "/health"): health,
    ("GET", "/api/v2/items"): list_items,
    ("GET", "/api/v2/timeseries/{ticker}"): timeseries,
    ("GET", "/api/v2/configurations/{config_id}"): configuration,
}


def register(resolver: APIGatewayRestResolver, routes: tuple[Route, ...],
             views: Mapping[tuple[str, str], Callable[..., Any]]) -> None:
    """Register every route of ``routes`` with its view; an authorized route first requires the user.

    Raises when the two disagree (a route without a view or a view without a route), so a route added to the
    contract and not here, or here and not in the contract, stops the function instead of answering 404 or
    being reachable without API Gateway's authorizer.
    """
    declared = {(r.method, r.path) for r in routes}
    if declared != set(views):
        raise ConfigurationError(f"dashboard views and contract.api.ROUTES disagree: routes without a view "
                                 f"{sorted(declared - set(views))}, views without a route {sorted(set(views) - declared)}")
    for route in routes:
        resolver.route(route.resolver_path, method=route.method,
                       middlewares=[_require_user] if route.authorized else None)(views[(route.method, route.path)])


register(app, ROUTES, VIEWS)


@lambda_handler(cap_s=GATEWAY_TIMEOUT_SECONDS)
def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or "httpMethod" not in event or "path" not in event:
        raise ValueError("dashboard expects an API Gateway REST proxy event (httpMethod and path)")
    response = app.resolve(event, context)
    # the allowed origin is reflected, so a cache must key the response on the request's Origin
    response.setdefault("multiValueHeaders", {})["Vary"] = ["Origin"]
    return response
