"""The instance's view of newly analysed items: a shared, traced poll of the ``by_sentiment_analyzed`` GSI.

Every stream polls on its own schedule and its own trace (FR-009), but they share one result cache: a poll
within half an interval of the last one is a cache hit and costs no DynamoDB call (FR-007's cache
annotations describe exactly this cache). Each item seen for the first time gets an event id
``{instance}:{n}`` and goes into a 100-event replay buffer for ``Last-Event-ID`` (FR-081). Ids carry the
instance so an id from another instance (another Lambda environment, a restarted server) is recognised
as a miss instead of being mistaken for a local position. The reads themselves are ``store.Store``'s.

The watermark is the analysis time (``analyzed_at``), never the article's publication time: an item published
long ago and analysed now is new to every stream (issue 9).
"""
from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Optional

from opentelemetry.context import Context

from contract.data import ANALYZED_AT, SENTIMENTS
from handlers.sse.store import Store
from handlers.sse.telemetry import StreamTracer

REPLAY_BUFFER_SIZE = 100
#: Items remembered as already seen (so the overlap of successive polls is not sent twice).
SEEN_MAX = 10_000
#: Each poll reads back this far behind the newest analysis seen, for analyses written late or out of order.
OVERLAP = timedelta(minutes=5)
#: ``{instance}:{n}``: 8 hex characters, then ``n`` from 1. Eighteen digits outlast any instance, and bound
#: what a ``Last-Event-ID`` can make the app parse.
_EVENT_ID = re.compile(r"([0-9a-f]{8}):([1-9][0-9]{0,17})")

RunIO = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class EventId:
    """A ``Last-Event-ID`` as the feed reads it."""

    instance: Optional[str]  # None: not an id of this service's form (another server's, or made up)
    seq: int = 0

    @classmethod
    def parse(cls, text: str) -> EventId:
        match = _EVENT_ID.fullmatch(text)
        return cls(match.group(1), int(match.group(2))) if match else cls(None)


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


def _initial_watermark() -> str:
    return (datetime.now(UTC) - OVERLAP).isoformat()


@dataclass
class ItemFeed:
    store: Store
    interval_s: float
    run_io: RunIO  # runs a blocking call (the store's reads) off the event loop
    instance: str = field(default_factory=lambda: secrets.token_hex(4))
    buffer: deque = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER_SIZE))
    head_seq: int = 0
    fetched_at: Optional[float] = None
    hits: int = 0
    misses: int = 0
    _seen: OrderedDict[tuple, None] = field(default_factory=OrderedDict)
    _watermark: str = field(default_factory=_initial_watermark)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- replay -------------------------------------------------------------------------------------
    def resume_position(self, last: Optional[EventId]) -> tuple[int, str]:
        """Where a new stream starts: ``(last delivered seq, trigger)``. A known id in the buffer's
        range replays what follows it; anything else starts at the live head."""
        if last is None:
            return self.head_seq, "connect"
        if last.instance == self.instance:
            oldest = self.buffer[0].seq if self.buffer else self.head_seq + 1
            if oldest - 1 <= last.seq <= self.head_seq:
                return last.seq, "replay"
        return self.head_seq, "replay_miss"

    def events_after(self, seq: int) -> list[FeedEvent]:
        return [e for e in self.buffer if e.seq > seq]

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return round(self.hits / total, 4) if total else 0.0

    # -- polling ------------------------------------------------------------------------------------
    async def poll(self, st: StreamTracer, parent: Context) -> PollResult:
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

    def _query_all(self, st: StreamTracer, parent: Context) -> list[dict]:
        items: list[dict] = []
        for sentiment in SENTIMENTS:
            items += self.store.items_since(st, parent, sentiment, self._watermark)
        return items

    def _admit(self, items: list[dict]) -> int:
        new = 0
        now = time.monotonic()
        for item in sorted(items, key=lambda i: str(i.get(ANALYZED_AT, ""))):
            key = (item.get("source_id"), item.get("timestamp"))
            if key in self._seen:
                continue
            self._seen[key] = None
            if len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)
            self.head_seq += 1
            self.buffer.append(FeedEvent(self.head_seq, f"{self.instance}:{self.head_seq}", item, now))
            new += 1
        if items:
            newest = max(str(i.get(ANALYZED_AT, "")) for i in items)
            try:
                floor = (datetime.fromisoformat(newest.replace("Z", "+00:00")) - OVERLAP).isoformat()
                self._watermark = max(self._watermark, floor)
            except ValueError:
                pass
        return new
