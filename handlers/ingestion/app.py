"""Ingestion: EventBridge every 5 minutes -> Tiingo + Finnhub -> items (pending) -> analysis topic.

Every AWS call is an auto-patched subsegment; the six silent-failure paths this Lambda owns (D5) run inside
``silent_failure`` so they are error-marked in X-Ray and counted in CloudWatch while the run goes on. The
SNS publish carries the trace header (botocore patching), so analysis joins this trace (FR-013, SC-008).

Each news source sits behind Powertools' circuit breaker (``common.breaker``): three consecutive failures open
its circuit for five minutes, then one half-open probe decides. The news fetch may use ``FETCH_SHARE`` of the
invocation's time left, so that storing, publishing and reporting always keep the rest.
"""
from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any, Optional

from aws_lambda_powertools.utilities.circuit_breaker import CircuitBreakerConfig, CircuitInfo
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from common import (
    NEVER_SWALLOWED,
    annotate,
    breaker,
    budget,
    client,
    dynamodb,
    get_secret,
    lambda_handler,
    logger,
    put_metrics,
    remote_call,
    require_env,
    run_parallel,
    silent_failure,
    table,
    tracer,
)
from common.events import scheduled_event
from contract import env, metrics
from contract.data import ITEMS_BY_STATUS, USERS_BY_ENTITY_STATUS

SOURCES = ("tiingo", "finnhub")
HTTP_TIMEOUT_SECONDS = 10            # per news-API request, cut to the fetch's share of the time left
#: The news fetch may use this share of the time left; storing, publishing and the metrics keep the rest.
FETCH_SHARE = 0.6
HIGH_LATENCY_SECONDS = metrics.HIGH_LATENCY_FETCH_SECONDS  # HighLatencyAlert (FR-042); tests shorten it
#: Three consecutive failures open a source's circuit for 300 s; then one probe's success closes it again.
#: The state is read on every run (no local cache): a circuit another instance opened is seen at once.
#: Instrumentation and deployment errors are not the source's fault and never trip it.
BREAKER = CircuitBreakerConfig(failure_threshold=3, recovery_timeout=300, success_threshold=1,
                               ignored_exceptions=NEVER_SWALLOWED, local_cache_max_age=0)
SELF_HEAL_AGE = timedelta(hours=1)
SELF_HEAL_LIMIT = 25
ITEM_TTL = timedelta(days=30)
MAX_TEXT = 2000


class SourceError(RuntimeError):
    """A news API answered with an HTTP error (status and reason only: bodies stay out of traces)."""


class FetchAggregateError(RuntimeError):
    """One or more news sources failed in the parallel fetch (path ``parallel_fetcher_aggregate``)."""


class CircuitOpen:
    """What a source whose circuit is open "returns": it was not called."""

    def __init__(self, circuit: CircuitInfo):
        self.circuit = circuit


def _now() -> datetime:
    return datetime.now(UTC)


# -- configuration ----------------------------------------------------------------------------------------
@tracer.capture_method
def load_tickers(cfg: dict[str, str]) -> list[str]:
    """Union of the tickers of active configurations; DEFAULT_TICKERS when none lists any."""
    resp = table(cfg[env.USERS_TABLE]).query(
        IndexName=USERS_BY_ENTITY_STATUS,
        KeyConditionExpression=Key("entity_type").eq("CONFIGURATION") & Key("status").eq("active"))
    tickers = sorted({t.upper() for item in resp.get("Items", []) for t in item.get("tickers", []) if t})
    return tickers or [t.strip().upper() for t in cfg[env.DEFAULT_TICKERS].split(",") if t.strip()]


# -- fetching ------------------------------------------------------------------------------------------------
def _get_json(source: str, url: str, headers: dict[str, str], until: Optional[float]) -> Any:
    """GET in an explicit ``remote`` subsegment (status, duration); keys travel in headers, never in the URL.

    The socket timeout is cut so the request ends by ``until`` (the fetch's share of the time left)."""
    req = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    timeout = budget.http_timeout(f"{source} request", HTTP_TIMEOUT_SECONDS, until=until)
    with remote_call(f"{source}_api", method="GET", url=url) as call:
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                call.status = resp.status
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            call.status = exc.code
            exc.close()  # the error body never reaches the trace (FR-058)
            raise SourceError(f"{source} answered HTTP {exc.code} {exc.reason}") from None


@tracer.capture_method
def fetch_tiingo(base_url: str, key: str, tickers: list[str], until: Optional[float] = None) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"tickers": ",".join(tickers), "limit": 100})
    articles = _get_json("tiingo", f"{base_url.rstrip('/')}/tiingo/news?{query}", {"Authorization": f"Token {key}"},
                         until)
    out = []
    for a in articles:
        for ticker in [t.upper() for t in a.get("tickers", []) if t.upper() in tickers][:1]:
            out.append({"source": "tiingo", "ticker": ticker, "title": a.get("title", ""), "url": a.get("url", ""),
                        "text": f"{a.get('title', '')}. {a.get('description', '')}".strip(),
                        "published": a.get("publishedDate") or _now().isoformat()})
    return out


@tracer.capture_method
def fetch_finnhub(base_url: str, key: str, tickers: list[str], until: Optional[float] = None) -> list[dict[str, Any]]:
    today = _now().date()
    out = []
    for ticker in tickers:
        query = urllib.parse.urlencode({"symbol": ticker, "from": (today - timedelta(days=1)).isoformat(),
                                        "to": today.isoformat()})
        for a in _get_json("finnhub", f"{base_url.rstrip('/')}/company-news?{query}", {"X-Finnhub-Token": key},
                           until):
            published = datetime.fromtimestamp(int(a.get("datetime", 0)), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append({"source": "finnhub", "ticker": ticker, "title": a.get("headline", ""), "url": a.get("url", ""),
                        "text": f"{a.get('headline', '')}. {a.get('summary', '')}".strip(), "published": published})
    return out


def fetch_all(cfg: dict[str, str], keys: dict[str, str],
              tickers: list[str]) -> tuple[list[dict], dict[str, Exception], dict[str, float]]:
    """Fetch every source through its circuit, in parallel; errors are aggregated, never dropped.

    Returns the items, the errors by source and the duration of each source that was called (a source whose
    circuit is open is not called: neither an error nor a duration).
    """
    # the news requests get FETCH_SHARE of the time left; the circuits' own reads and writes are not cut to it,
    # so a source that used up its share can still have its circuit opened
    until = budget.deadline_in(FETCH_SHARE)
    fetchers = {"tiingo": lambda: fetch_tiingo(cfg[env.TIINGO_BASE_URL], keys["tiingo"], tickers, until),
                "finnhub": lambda: fetch_finnhub(cfg[env.FINNHUB_BASE_URL], keys["finnhub"], tickers, until)}
    durations: dict[str, float] = {}

    def through_circuit(source: str):
        def timed():
            started = time.monotonic()
            try:
                return fetchers[source]()
            finally:
                durations[source] = time.monotonic() - started
        return lambda: breaker.call(source, timed, table_name=cfg[env.USERS_TABLE], config=BREAKER, on_open=CircuitOpen)

    results = run_parallel({s: through_circuit(s) for s in SOURCES})
    open_now = sorted(s for s, r in results.items() if isinstance(r, CircuitOpen))
    items = [i for r in results.values() if isinstance(r, list) for i in r]
    errors = {s: r for s, r in results.items() if isinstance(r, Exception)}
    with silent_failure("parallel_fetcher_aggregate"):
        if errors:
            annotate(failed_sources=",".join(sorted(errors)))
            raise FetchAggregateError("; ".join(f"{s}: {type(e).__name__}: {e}" for s, e in sorted(errors.items())))
    if open_now:
        logger.info("circuit open, source skipped", extra={"sources": open_now})
    return items, errors, durations


# -- storing and publishing -------------------------------------------------------------------------------------
def dedup_id(item: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"{item['source']}|{item['url']}|{item['title']}".encode()).hexdigest()
    return f"{item['source']}#{digest}"


def _existing_ids(cfg: dict[str, str], items: list[dict[str, Any]]) -> set[str]:
    """Ids already stored, read in one BatchGetItem per 100 keys, so that an ordinary duplicate does not show up
    as an error-marked conditional write in the errors group (SC-002); the conditional put still settles races."""
    keys = list({(dedup_id(i), i["published"]): None for i in items})
    found: set[str] = set()
    for start in range(0, len(keys), 100):
        batch = [{"source_id": k, "timestamp": t} for k, t in keys[start:start + 100]]
        request: Optional[dict[str, Any]] = {cfg[env.ITEMS_TABLE]: {"Keys": batch, "ProjectionExpression": "source_id"}}
        while request:
            resp = dynamodb().batch_get_item(RequestItems=request)
            found |= {r["source_id"] for r in resp["Responses"].get(cfg[env.ITEMS_TABLE], [])}
            request = resp.get("UnprocessedKeys") or None
    return found


@tracer.capture_method
def store_items(cfg: dict[str, str], items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Conditional put per item: a SHA-256 id seen before is a duplicate and is not published again."""
    items_table, now = table(cfg[env.ITEMS_TABLE]), _now()
    new, duplicates = [], 0
    known = _existing_ids(cfg, items)
    for item in items:
        if dedup_id(item) in known:
            duplicates += 1
            continue
        record = {"source_id": dedup_id(item), "timestamp": item["published"], "status": "pending",
                  "tag": item["ticker"], "ticker": item["ticker"], "title": item["title"][:500],
                  "text": item["text"][:MAX_TEXT], "url": item["url"], "ingested_at": now.isoformat(),
                  "ttl": int((now + ITEM_TTL).timestamp())}
        try:
            items_table.put_item(Item=record, ConditionExpression=Attr("source_id").not_exists())
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            duplicates += 1
            continue
        new.append(record)
    return new, duplicates


def analysis_message(item: dict[str, Any]) -> str:
    return json.dumps({k: item[k] for k in ("source_id", "timestamp", "ticker", "text")})


@tracer.capture_method
def publish_for_analysis(topic_arn: str, items: list[dict[str, Any]]) -> None:
    sns = client("sns")
    for start in range(0, len(items), 10):
        batch = items[start:start + 10]
        resp = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": analysis_message(item)} for i, item in enumerate(batch)])
        if resp.get("Failed"):
            raise RuntimeError(f"SNS refused {len(resp['Failed'])} analysis message(s): {resp['Failed'][0].get('Code')}")


def write_audit(cfg: dict[str, str], request_id: str, summary: dict[str, Any]) -> None:
    now = _now()
    with silent_failure("audit_trail"):
        table(cfg[env.USERS_TABLE]).put_item(Item={
            "PK": f"AUDIT#{now.date().isoformat()}", "SK": f"{now.isoformat()}#{request_id}", "entity_type": "AUDIT",
            "action": "ingestion_run", "details": json.dumps(summary), "ttl": int((now + timedelta(days=90)).timestamp())})


def notify_downstream(cfg: dict[str, str], new_items: list[dict[str, Any]]) -> None:
    if not new_items:
        return
    with silent_failure("notification_delivery"):
        client("sns").publish(TopicArn=cfg[env.NOTIFICATION_TOPIC_ARN], Message=json.dumps({
            "type": "new_items", "count": len(new_items), "tickers": sorted({i["ticker"] for i in new_items})}))


def self_heal(cfg: dict[str, str]) -> int:
    """Republish items still pending after an hour (a lost SNS delivery must not lose an analysis)."""
    cutoff = (_now() - SELF_HEAL_AGE).isoformat()
    stale: list[dict[str, Any]] = []
    with silent_failure("self_healing_fetch"):
        resp = table(cfg[env.ITEMS_TABLE]).query(
            IndexName=ITEMS_BY_STATUS, Limit=SELF_HEAL_LIMIT,
            KeyConditionExpression=Key("status").eq("pending") & Key("timestamp").lt(cutoff),
            FilterExpression=Attr("ingested_at").lt(cutoff))
        stale = resp.get("Items", [])
        annotate(self_healed=len(stale))
    if stale:
        publish_for_analysis(cfg[env.ANALYSIS_TOPIC_ARN], stale)
    return len(stale)


# -- the handler -----------------------------------------------------------------------------------------------------
@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    scheduled_event(event, "ingestion")
    cfg = require_env(*env.REQUIRED["ingestion"])
    keys = get_secret(cfg[env.NEWS_API_SECRET_ARN])
    tickers = load_tickers(cfg)
    annotate(ticker_count=len(tickers))
    items, errors, durations = fetch_all(cfg, keys, tickers)
    new_items, duplicates = store_items(cfg, items)
    publish_for_analysis(cfg[env.ANALYSIS_TOPIC_ARN], new_items)
    healed = self_heal(cfg)
    summary = {"fetched": len(items), "new_items": len(new_items), "duplicates": duplicates,
               "fetch_errors": sorted(errors), "self_healed": healed}
    annotate(new_items=len(new_items))
    write_audit(cfg, getattr(context, "aws_request_id", "-"), summary)
    notify_downstream(cfg, new_items)
    slow = [s for s, d in durations.items() if d > HIGH_LATENCY_SECONDS]
    put_metrics(metrics.INGESTION_NAMESPACE, {
        metrics.NEW_ITEMS_INGESTED: len(new_items), metrics.DUPLICATE_ITEMS_SKIPPED: duplicates,
        metrics.FETCH_ERRORS: len(errors), metrics.SELF_HEALED_ITEMS: healed,
        metrics.HIGH_LATENCY_ALERT: 1 if slow else 0})
    logger.info("ingestion run", extra=summary)
    return summary
