"""Analysis: SNS (analysis topic) -> VADER score -> item analyzed -> time-series fan-out over 8 resolutions.

A bad message raises, so SNS retries and the DLQ keeps it. The conditional update on
``status = pending`` makes redelivery idempotent. A partial fan-out is the ``fanout_partial_write`` silent
path: one subsegment with ``ticker_symbol`` and ``failed_buckets`` (FR-205), the item stays analyzed.

Deadline early-return (FR-205/206): before each bucket write the fan-out asks the Lambda context for the time
left; below ``DEADLINE_SAFETY_MS`` it writes nothing more, records the unwritten buckets as failed on the same
``fanout_partial_write`` subsegment with ``flush_reason="deadline"`` (and the SilentFailure metric), and the
handler returns normally: a timeout would be a SIGKILL that loses the subsegment, the metric and the result.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from common import (annotate, lambda_handler, logger, put_metadata, put_metrics, require_env, silent_failure, table,
                    tracer)
from contract import env, metrics
from contract.data import RESOLUTIONS

REQUIRED_FIELDS = ("source_id", "timestamp", "ticker", "text")
RESOLUTION_SECONDS = {"1m": 60, "5m": 300, "10m": 600, "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200,
                      "24h": 86400}
SERIES_TTL = timedelta(days=90)
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's documented compound thresholds
#: Below this many ms of invocation time left, the fan-out stops writing buckets (FR-205/206): enough for the
#: silent-failure metric, the subsegments and the return, within the DynamoDB client's bounded timeouts.
DEADLINE_SAFETY_MS = 3_000

_vader = SentimentIntensityAnalyzer()  # init phase: the lexicon loads once per process


class MalformedMessage(ValueError):
    """Not an analysis request: raised so SNS retries and, finally, the DLQ keeps the message."""


class FanoutPartialWrite(RuntimeError):
    """Some time-series buckets could not be written after retries."""


def parse(event: Any) -> list[dict[str, Any]]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise MalformedMessage("analysis expects an SNS event with a non-empty Records list")
    out = []
    for n, record in enumerate(records):
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict) or "Message" not in sns:
            raise MalformedMessage(f"record {n} is not an SNS notification (no Sns.Message)")
        try:
            message = json.loads(sns["Message"])
        except (TypeError, ValueError) as exc:
            raise MalformedMessage(f"record {n}: Sns.Message is not JSON ({exc})") from exc
        missing = [f for f in REQUIRED_FIELDS if not isinstance(message, dict) or not message.get(f)]
        if missing:
            raise MalformedMessage(f"record {n}: analysis message lacks {', '.join(missing)}")
        out.append(message)
    return out


def score(text: str) -> tuple[float, str]:
    compound = _vader.polarity_scores(text)["compound"]
    label = "positive" if compound >= POSITIVE else "negative" if compound <= NEGATIVE else "neutral"
    return compound, label


def bucket_start(ts: datetime, resolution: str) -> str:
    step = RESOLUTION_SECONDS[resolution]
    epoch = int(ts.timestamp()) // step * step
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@tracer.capture_method
def mark_analyzed(cfg: dict[str, str], message: dict[str, Any], compound: float, label: str) -> bool:
    """Conditional on ``status = pending``; False when a redelivery finds it already analyzed."""
    try:
        table(cfg[env.ITEMS_TABLE]).update_item(
            Key={"source_id": message["source_id"], "timestamp": message["timestamp"]},
            UpdateExpression="SET #s = :analyzed, sentiment = :label, score = :score, analyzed_at = :now",
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":analyzed": "analyzed", ":pending": "pending", ":label": label,
                                       ":score": Decimal(str(round(compound, 4))),
                                       ":now": datetime.now(timezone.utc).isoformat()})
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def fanout(cfg: dict[str, str], ticker: str, when: datetime, compound: float, label: str,
           remaining_ms: Callable[[], int]) -> list[str]:
    """ADD into one bucket per resolution; failed resolutions are reported, not raised (silent path).

    ``remaining_ms`` is the Lambda context's ``get_remaining_time_in_millis``: once it is below
    ``DEADLINE_SAFETY_MS`` the remaining buckets are not attempted and count as failed (``flush_reason="deadline"``).
    """
    series = table(cfg[env.TIMESERIES_TABLE])
    failed: list[str] = []
    with silent_failure("fanout_partial_write", ticker_symbol=ticker) as outcome:
        last: Exception | None = None
        written: list[str] = []
        deadline_at: int | None = None
        for n, resolution in enumerate(RESOLUTIONS):
            left = remaining_ms()
            if left < DEADLINE_SAFETY_MS:
                deadline_at = left
                failed.extend(RESOLUTIONS[n:])
                break
            try:
                series.update_item(
                    Key={"pk": f"{ticker}#{resolution}", "bucket": bucket_start(when, resolution)},
                    UpdateExpression=f"ADD #n :one, score_sum :score, {label}_count :one SET #ttl = :ttl",
                    ExpressionAttributeNames={"#n": "count", "#ttl": "ttl"},
                    ExpressionAttributeValues={":one": 1, ":score": Decimal(str(round(compound, 4))),
                                               ":ttl": int((when + SERIES_TTL).timestamp())})
            except (BotoCoreError, ClientError) as exc:  # retries exhausted for this bucket
                failed.append(resolution)
                last = exc
            else:
                written.append(resolution)
        if failed:
            reason = "deadline" if deadline_at is not None else "retries_exhausted"
            annotate(failed_buckets=",".join(failed), flush_reason=reason)
            put_metadata("fanout", {"flush_reason": reason, "failed_buckets": ",".join(failed),
                                    "written_buckets": ",".join(written), "remaining_ms": deadline_at,
                                    "safety_margin_ms": DEADLINE_SAFETY_MS})
            if deadline_at is not None:
                raise FanoutPartialWrite(f"{ticker}: deadline, {deadline_at} ms left (< {DEADLINE_SAFETY_MS} ms): "
                                         f"{len(failed)}/{len(RESOLUTIONS)} buckets not written ({','.join(failed)})"
                                         + (f"; last error: {last}" if last else "")) from last
            raise FanoutPartialWrite(f"{ticker}: {len(failed)}/{len(RESOLUTIONS)} buckets failed "
                                     f"({','.join(failed)}): {last}") from last
    return failed if outcome.failed else []


def _when(message: dict[str, Any]) -> datetime:
    try:
        when = datetime.fromisoformat(str(message["timestamp"]).replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedMessage(f"timestamp {message['timestamp']!r} is not ISO-8601") from exc
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    cfg = require_env(*env.REQUIRED["analysis"])
    analyzed = skipped = 0
    try:
        messages = parse(event)  # every record validated before any is processed: a bad batch changes nothing
        for message in messages:
            when = _when(message)
            compound, label = score(message["text"])
            annotate(ticker=str(message["ticker"])[:32], sentiment=label)
            if not mark_analyzed(cfg, message, compound, label):
                skipped += 1
                logger.info("already analyzed, redelivery ignored", extra={"source_id": message["source_id"]})
                continue
            fanout(cfg, str(message["ticker"]), when, compound, label, context.get_remaining_time_in_millis)
            analyzed += 1
    except (BotoCoreError, ClientError, MalformedMessage):
        put_metrics(metrics.APP_NAMESPACE, {metrics.ANALYSIS_ERRORS: 1})
        raise
    return {"analyzed": analyzed, "skipped": skipped}
