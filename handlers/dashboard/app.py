"""Dashboard API: API Gateway REST -> Powertools ``APIGatewayRestResolver`` serving ``/api/v2/*`` and ``/health``.

API Gateway's sampling decision and trace id arrive in ``_X_AMZN_TRACE_ID``; each DynamoDB call is an
auto-patched subsegment under the route's ``## ...`` subsegment. Bad input gets a 400 with the reason.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from boto3.dynamodb.conditions import Key

from common import annotate, lambda_handler, require_env, table, tracer
from contract import env
from contract.data import ITEMS_BY_SENTIMENT, ITEMS_BY_TAG, RESOLUTIONS

SENTIMENTS = ("positive", "negative", "neutral")
MAX_LIMIT = 100
ITEM_FIELDS = ("source_id", "timestamp", "ticker", "title", "url", "sentiment", "score", "status")

app = APIGatewayRestResolver(strip_prefixes=[])


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _limit() -> int:
    raw = app.current_event.get_query_string_value("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequestError(f"limit must be an integer between 1 and {MAX_LIMIT}, got {raw!r}")
    return int(raw)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v2/items")
@tracer.capture_method
def list_items() -> dict[str, Any]:
    """Newest items by sentiment (``by_sentiment``) or by ticker (``by_tag``)."""
    cfg = require_env(*env.REQUIRED["dashboard"])
    sentiment = app.current_event.get_query_string_value("sentiment")
    ticker = app.current_event.get_query_string_value("ticker")
    limit = _limit()
    if (sentiment is None) == (ticker is None):
        raise BadRequestError("give exactly one of the query parameters 'sentiment' or 'ticker'")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise BadRequestError(f"sentiment must be one of {', '.join(SENTIMENTS)}, got {sentiment!r}")
    if ticker is not None and not (ticker.isalnum() and len(ticker) <= 10):
        raise BadRequestError("ticker must be 1-10 letters or digits")
    index, key = (ITEMS_BY_SENTIMENT, Key("sentiment").eq(sentiment)) if sentiment else (
        ITEMS_BY_TAG, Key("tag").eq(ticker.upper()))
    annotate(route="items", query_index=index)
    resp = table(cfg[env.ITEMS_TABLE]).query(IndexName=index, KeyConditionExpression=key, ScanIndexForward=False,
                                           Limit=limit)
    items = [{k: item[k] for k in ITEM_FIELDS if k in item} for item in resp.get("Items", [])]
    return {"items": _plain(items), "count": len(items)}


@app.get("/api/v2/timeseries/<ticker>")
@tracer.capture_method
def timeseries(ticker: str) -> dict[str, Any]:
    cfg = require_env(*env.REQUIRED["dashboard"])
    resolution = app.current_event.get_query_string_value("resolution", "1h")
    if resolution not in RESOLUTIONS:
        raise BadRequestError(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    if not (ticker.isalnum() and len(ticker) <= 10):
        raise BadRequestError("ticker must be 1-10 letters or digits")
    annotate(route="timeseries", resolution=resolution)
    resp = table(cfg[env.TIMESERIES_TABLE]).query(KeyConditionExpression=Key("pk").eq(f"{ticker.upper()}#{resolution}"),
                                                ScanIndexForward=False, Limit=_limit())
    return {"ticker": ticker.upper(), "resolution": resolution, "buckets": _plain(resp.get("Items", []))}


@app.get("/api/v2/configurations/<config_id>")
@tracer.capture_method
def configuration(config_id: str) -> dict[str, Any]:
    cfg = require_env(*env.REQUIRED["dashboard"])
    user_id = app.current_event.headers.get("X-User-ID")  # case-insensitive in Powertools v3
    if not user_id:
        raise BadRequestError("the X-User-ID header is required")
    annotate(route="configuration")
    item = table(cfg[env.USERS_TABLE]).get_item(Key={"PK": f"USER#{user_id}", "SK": f"CONFIG#{config_id}"}).get("Item")
    if item is None:
        raise NotFoundError(f"configuration {config_id} not found")
    return _plain({"config_id": config_id, "name": item.get("name", ""), "tickers": item.get("tickers", []),
                   "status": item.get("status", "")})


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or "httpMethod" not in event or "path" not in event:
        raise ValueError("dashboard expects an API Gateway REST proxy event (httpMethod and path)")
    return app.resolve(event, context)
