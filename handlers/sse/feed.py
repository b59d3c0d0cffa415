"""The instance's view of new analysed items: a shared, traced poll of the ``by_sentiment`` GSI.

Every stream polls on its own schedule and its own trace (FR-009), but they share one result cache: a poll
within half an interval of the last one is a cache hit and costs no DynamoDB call (FR-007's cache
annotations describe exactly this cache). Each item seen for the first time gets an event id
``{instance}:{n}`` and goes into a 100-event replay buffer for ``Last-Event-ID`` (FR-081). Ids carry the
instance so an id from another instance (another Lambda environment, a restarted server) is recognised
as a miss instead of being mistaken for a local position.
"""
from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from opentelemetry.trace import SpanKind

from handlers.sse.telemetry import StreamTracer

SENTIMENTS = ("positive", "negative", "neutral")
INDEX = "by_sentiment"
REPLAY_BUFFER_SIZE = 100
SEEN_MAX = 10_000
OVERLAP = timedelta(minutes=5)
MAX_PAGES = 5


@dataclass(frozen=True)
class FeedEvent:
    seq: int
    event_id: str
    item: dict
    seen_monotonic: float


@dataclass
class PollResult:
    item_count: int
    new_count: int
    cache_hit: bool
    duration_ms: float


def _plain(value: Any) -> Any:
    """DynamoDB's Decimal/sets to JSON-friendly values."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass
class ItemFeed:
    table_name: str
    interval_s: float
    run_io: Callable  # async (fn, *args) -> result, runs blocking boto3 calls off the event loop
    instance: str = field(default_factory=lambda: secrets.token_hex(4))
    buffer: deque = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER_SIZE))
    head_seq: int = 0
    fetched_at: Optional[float] = None
    hits: int = 0
    misses: int = 0
    _seen: "OrderedDict[tuple, None]" = field(default_factory=OrderedDict)
    _watermark: str = field(default_factory=lambda: (datetime.now(timezone.utc) - OVERLAP).isoformat())
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _table: Any = None

    # -- replay -------------------------------------------------------------------------------------
    def resume_position(self, last_event_id: Optional[str]) -> tuple[int, str]:
        """Where a new stream starts: ``(last delivered seq, trigger)``. A known id in the buffer's
        range replays what follows it; anything else starts at the live head."""
        if not last_event_id:
            return self.head_seq, "connect"
        instance, _, number = last_event_id.partition(":")
        if instance == self.instance and number.isdigit():
            seq = int(number)
            oldest = self.buffer[0].seq if self.buffer else self.head_seq + 1
            if oldest - 1 <= seq <= self.head_seq:
                return seq, "replay"
        return self.head_seq, "replay_miss"

    def events_after(self, seq: int) -> list[FeedEvent]:
        return [e for e in self.buffer if e.seq > seq]

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return round(self.hits / total, 4) if total else 0.0

    # -- polling ------------------------------------------------------------------------------------
    async def poll(self, st: StreamTracer, parent) -> PollResult:
        started = time.monotonic()
        async with self._lock:
            fresh = self.fetched_at is not None and started - self.fetched_at < self.interval_s / 2
            if fresh:
                self.hits += 1
                return PollResult(0, 0, True, (time.monotonic() - started) * 1000)
            self.misses += 1
            items = await self.run_io(self._query_all, st, parent)
            self.fetched_at = time.monotonic()
            new = self._admit(items)
        return PollResult(len(items), new, False, (time.monotonic() - started) * 1000)

    def _client(self):
        if self._table is None:
            import boto3

            from handlers.sse.aws import client_config

            self._table = boto3.resource("dynamodb", config=client_config()).Table(self.table_name)
        return self._table

    def _query_all(self, st: StreamTracer, parent) -> list[dict]:
        items: list[dict] = []
        for sentiment in SENTIMENTS:
            items += self._query(st, parent, sentiment)
        return items

    def _query(self, st: StreamTracer, parent, sentiment: str) -> list[dict]:
        with st.span("DynamoDB.Query", kind=SpanKind.CLIENT, parent=parent, **{
                "db.system": "dynamodb", "db.operation": "Query", "rpc.system": "aws-api",
                "rpc.service": "DynamoDB", "rpc.method": "Query",
                "aws.dynamodb.table_names": [self.table_name], "aws.dynamodb.index_name": INDEX}) as span:
            out: list[dict] = []
            kwargs: dict = {"IndexName": INDEX,
                            "KeyConditionExpression": "sentiment = :s AND #ts > :w",
                            "ExpressionAttributeNames": {"#ts": "timestamp"},
                            "ExpressionAttributeValues": {":s": sentiment, ":w": self._watermark}}
            for _ in range(MAX_PAGES):
                page = self._client().query(**kwargs)
                out += page.get("Items", [])
                span.set(**{"aws.request_id": page.get("ResponseMetadata", {}).get("RequestId")})
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            span.set(**{"aws.dynamodb.count": len(out)})
            return out

    def _admit(self, items: list[dict]) -> int:
        new = 0
        now = time.monotonic()
        for item in sorted(items, key=lambda i: str(i.get("timestamp", ""))):
            key = (item.get("source_id"), item.get("timestamp"))
            if key in self._seen:
                continue
            self._seen[key] = None
            if len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)
            self.head_seq += 1
            self.buffer.append(FeedEvent(self.head_seq, f"{self.instance}:{self.head_seq}", _plain(item), now))
            new += 1
        if items:
            newest = max(str(i.get("timestamp", "")) for i in items)
            try:
                floor = (datetime.fromisoformat(newest.replace("Z", "+00:00")) - OVERLAP).isoformat()
                self._watermark = max(self._watermark, floor)
            except ValueError:
                pass
        return new
