"""Analysis: SNS (analysis topic) -> VADER score -> item analyzed + time-series fan-out over 8 resolutions.

Nothing is lost on a retry. The item's ``analyzed`` mark and its eight bucket increments are written in ONE
DynamoDB transaction, conditional on the item existing and still being ``pending``: either all of it is
written or none of it is, so a failed invocation (a timeout, an error, a refused write) leaves the item
pending and the retry SNS makes (then the DLQ) does the whole work; a redelivery of work already done fails
the condition and is skipped without counting anything twice. A message for an item that does not exist is
an error, not a redelivery. Every failure is counted (``AnalysisErrors``) and raised.

The transaction runs inside the ``fanout_partial_write`` path (D5): when it does not commit, that path's
subsegment carries ``ticker_symbol``, ``failed_buckets`` (all of them: none was written) and
``flush_reason``, and ``SilentFailure`` is counted, before the invocation fails for its retry.

Deadline (FR-205/206): with less than ``DEADLINE_SAFETY_MS`` left the transaction is not started; the path is
recorded with ``flush_reason="deadline"`` and the invocation fails cleanly for its retry, instead of being
killed by the timeout (a SIGKILL would lose the subsegment, the metric and the message's retry accounting).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel, StringConstraints, field_validator
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from common import (
    NEVER_SWALLOWED,
    annotate,
    client,
    lambda_handler,
    logger,
    put_metadata,
    put_metrics,
    require_env,
    silent_failure,
)
from common.events import MalformedEvent, sns_messages
from contract import env, metrics
from contract.data import RESOLUTIONS, TICKER_PATTERN

RESOLUTION_SECONDS = {"1m": 60, "5m": 300, "10m": 600, "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200,
                      "24h": 86400}
SERIES_TTL = timedelta(days=90)
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's documented compound thresholds
#: Below this many ms of invocation time left, the fan-out is not started (FR-205/206): enough for the
#: silent-failure metric, the subsegments and the error, within the DynamoDB client's bounded timeouts.
DEADLINE_SAFETY_MS = 3_000
#: Concurrent analyses of one ticker share its buckets, and DynamoDB cancels a transaction that meets another
#: one on the same item (``TransactionConflict``, which botocore does not retry): retried this many times.
CONFLICT_RETRIES = 3

_vader = SentimentIntensityAnalyzer()  # init phase: the lexicon loads once per process
_serialize = TypeSerializer().serialize


class MalformedMessage(MalformedEvent):
    """Not an analysis request: raised so SNS retries and, finally, the DLQ keeps the message."""


class ItemNotFound(RuntimeError):
    """The message names an item that is not in the items table: an error (DLQ), never a redelivery."""


class FanoutPartialWrite(RuntimeError):
    """The analysis was not written (deadline, or the transaction refused): nothing of it was, the retry does it."""


class AnalysisMessage(BaseModel):
    """What ingestion publishes on the analysis topic (extra fields are ignored)."""

    source_id: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    timestamp: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    ticker: Annotated[str, StringConstraints(pattern=TICKER_PATTERN)]
    text: Annotated[str, StringConstraints(min_length=1)]

    @field_validator("timestamp")
    @classmethod
    def _iso(cls, value: str) -> str:
        when(value)  # a ValueError names the field in the reason
        return value


def when(timestamp: str) -> datetime:
    """An ISO-8601 timestamp as an aware UTC datetime (naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{timestamp!r} is not ISO-8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse(event: Any) -> list[AnalysisMessage]:
    """Every record validated before any is processed: a bad batch changes nothing."""
    return sns_messages(event, AnalysisMessage, error=MalformedMessage,
                        expected="analysis expects an SNS event whose every message has source_id, timestamp, "
                                 "ticker and text")


def score(text: str) -> tuple[float, str]:
    compound = _vader.polarity_scores(text)["compound"]
    label = "positive" if compound >= POSITIVE else "negative" if compound <= NEGATIVE else "neutral"
    return compound, label


def bucket_start(ts: datetime, resolution: str) -> str:
    step = RESOLUTION_SECONDS[resolution]
    epoch = int(ts.timestamp()) // step * step
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serialize(v) for k, v in values.items()}


def transaction(cfg: dict[str, str], message: AnalysisMessage, compound: float, label: str) -> list[dict]:
    """The item's analyzed mark (conditional on pending) and one ADD per resolution bucket, as one transaction."""
    at = when(message.timestamp)
    ticker = message.ticker.upper()
    points = Decimal(str(round(compound, 4)))
    mark = {"Update": {
        "TableName": cfg[env.ITEMS_TABLE],
        "Key": _values({"source_id": message.source_id, "timestamp": message.timestamp}),
        "UpdateExpression": "SET #s = :analyzed, sentiment = :label, score = :score, analyzed_at = :now",
        "ConditionExpression": "attribute_exists(source_id) AND #s = :pending",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": _values({":analyzed": "analyzed", ":pending": "pending", ":label": label,
                                              ":score": points, ":now": datetime.now(UTC).isoformat()}),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
    buckets = [{"Update": {
        "TableName": cfg[env.TIMESERIES_TABLE],
        "Key": _values({"pk": f"{ticker}#{resolution}", "bucket": bucket_start(at, resolution)}),
        "UpdateExpression": f"ADD #n :one, score_sum :score, {label}_count :one SET #ttl = :ttl",
        "ExpressionAttributeNames": {"#n": "count", "#ttl": "ttl"},
        "ExpressionAttributeValues": _values({":one": 1, ":score": points,
                                              ":ttl": int((at + SERIES_TTL).timestamp())})}}
        for resolution in RESOLUTIONS]
    return [mark, *buckets]


def _cancellation(exc: ClientError) -> list[dict]:
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    return exc.response.get("CancellationReasons") or []


class Written(Enum):
    COMMITTED = "committed"   # the analysis is written
    ALREADY = "already"       # it was, by an earlier delivery of this message
    MISSING = "missing"       # the item does not exist


def commit(cfg: dict[str, str], message: AnalysisMessage, compound: float, label: str,
           remaining_ms: Callable[[], int]) -> bool:
    """Write the analysis; False when an earlier delivery already wrote it.

    The write runs inside ``fanout_partial_write``: when it does not commit, the path records why (deadline or
    the transaction refused) and ``FanoutPartialWrite`` is raised after the path's block, for the handler to
    count and fail the invocation. A missing item raises ``ItemNotFound``.
    """
    items = transaction(cfg, message, compound, label)
    written = Written.COMMITTED
    with silent_failure("fanout_partial_write", ticker_symbol=message.ticker.upper()) as outcome:
        left = remaining_ms()
        reason = "deadline" if left < DEADLINE_SAFETY_MS else "retries_exhausted"
        try:
            if reason == "deadline":
                raise FanoutPartialWrite(f"{message.ticker}: deadline, {left} ms left (< {DEADLINE_SAFETY_MS} ms): "
                                         f"0/{len(RESOLUTIONS)} buckets written, the retry writes them")
            written = _transact(items)
        except NEVER_SWALLOWED:
            raise
        except Exception:
            annotate(failed_buckets=",".join(RESOLUTIONS), flush_reason=reason)
            put_metadata("fanout", {"flush_reason": reason, "failed_buckets": ",".join(RESOLUTIONS),
                                    "written_buckets": "", "remaining_ms": left, "safety_margin_ms": DEADLINE_SAFETY_MS})
            raise
    if outcome.failed:
        if isinstance(outcome.error, FanoutPartialWrite):
            raise outcome.error
        raise FanoutPartialWrite(f"{message.ticker}: the analysis was not written ({type(outcome.error).__name__}: "
                                 f"{outcome.error}); 0/{len(RESOLUTIONS)} buckets written, the retry writes them"
                                 ) from outcome.error
    if written is Written.MISSING:
        raise ItemNotFound(f"item {message.source_id!r} at {message.timestamp!r} does not exist")
    if written is Written.ALREADY:
        logger.info("already analyzed, redelivery ignored", extra={"source_id": message.source_id})
    return written is Written.COMMITTED


def _transact(items: list[dict]) -> Written:
    """One transaction, retried on conflicts with a concurrent analysis of the same ticker."""
    ddb = client("dynamodb")  # the low-level client: the items are already in DynamoDB's typed form
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            ddb.transact_write_items(TransactItems=items)
            return Written.COMMITTED
        except ClientError as exc:
            reasons = _cancellation(exc)
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return Written.MISSING if reasons[0].get("Item") is None else Written.ALREADY
            if attempt == CONFLICT_RETRIES or not any(r.get("Code") == "TransactionConflict" for r in reasons):
                raise
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))  # jittered: the other transaction finishes first
    raise AssertionError("unreachable: the last attempt returns or raises")


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    cfg = require_env(*env.REQUIRED["analysis"])
    analyzed = skipped = 0
    try:
        for message in parse(event):
            compound, label = score(message.text)
            annotate(ticker=message.ticker.upper(), sentiment=label)
            if commit(cfg, message, compound, label, context.get_remaining_time_in_millis):
                analyzed += 1
            else:
                skipped += 1
    except Exception:
        put_metrics(metrics.APP_NAMESPACE, {metrics.ANALYSIS_ERRORS: 1})
        raise
    return {"analyzed": analyzed, "skipped": skipped}
