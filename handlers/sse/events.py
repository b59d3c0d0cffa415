"""What each event of a stream carries: ``connected``, ``sentiment``, ``heartbeat`` and ``deadline``.

Every event's data has the stream's X-Ray trace id (FR-115), so a client can quote it. A ``sentiment`` event
is an analysed item reduced to what a client shows, with its delivery latency and, when asked for, the
start of the time-series bucket it falls in at each requested resolution.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Optional

#: A title is cut to this many characters in an event.
MAX_TITLE = 300
#: The item fields an item's tickers are read from: ingestion writes ``ticker`` and ``tag`` (the ``by_tag``
#: index's key); an item may also list several in ``tickers``.
_TICKER_FIELDS = ("tickers", "ticker", "tag")


def item_tickers(item: dict) -> set[str]:
    """The tickers an item is about, upper-cased (the stream's ticker filter matches on these)."""
    out: set[str] = set()
    for key in _TICKER_FIELDS:
        value = item.get(key)
        if isinstance(value, str):
            out.add(value.upper())
        elif isinstance(value, (list, tuple)):
            out.update(str(v).upper() for v in value)
    return out


def bucket_start(ts: datetime, resolution: str) -> str:
    """The ISO start of the time-series bucket of ``resolution`` (``5m``, ``1h`` ...) that ``ts`` falls in."""
    n, unit = int(resolution[:-1]), resolution[-1]
    seconds = n * (60 if unit == "m" else 3600)
    epoch = int(ts.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def parse_timestamp(value: Any) -> Optional[datetime]:
    """An item's ISO-8601 timestamp (naive means UTC); None when it is not one."""
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Sentiment:
    """A ``sentiment`` event's data and how late it is (for the span and the EventLatencyMs metric)."""

    data: dict
    latency_ms: float
    clock_skew: bool  # the item's time is in the future: the latency is reported as 0


def sentiment(item: dict, trace_id: Optional[str], resolutions: Iterable[str]) -> Sentiment:
    analysed = parse_timestamp(item.get("analyzed_at") or item.get("updated_at") or item.get("timestamp"))
    latency_ms = (datetime.now(UTC) - analysed).total_seconds() * 1000 if analysed else 0.0
    latency_ms, skew = max(0.0, latency_ms), latency_ms < 0
    data = {"source_id": item.get("source_id"), "timestamp": item.get("timestamp"),
            "sentiment": item.get("sentiment"), "score": item.get("score"),
            "tickers": sorted(item_tickers(item)), "title": str(item.get("title", ""))[:MAX_TITLE] or None,
            "trace_id": trace_id, "latency_ms": round(latency_ms, 1)}
    item_ts = parse_timestamp(item.get("timestamp"))
    resolutions = tuple(resolutions)
    if resolutions and item_ts:
        data["buckets"] = {r: bucket_start(item_ts, r) for r in resolutions}
    return Sentiment(data, latency_ms, skew)


def connected(connection_id: str, session_id: str, trace_id: Optional[str], connection_sequence: Optional[int],
              previous_trace_id: Optional[str], instance: str, resume: str) -> dict:
    """The first event: who the stream is, the trace it is in, and how it resumed (FR-048, FR-081)."""
    return {"connection_id": connection_id, "session_id": session_id, "trace_id": trace_id,
            "connection_sequence": connection_sequence, "previous_trace_id": previous_trace_id,
            "instance": instance, "resume": resume}


def heartbeat(trace_id: Optional[str], connections: int) -> dict:
    return {"trace_id": trace_id, "connections": connections, "timestamp": datetime.now(UTC).isoformat()}


def deadline(remaining_ms: int, trace_id: Optional[str]) -> dict:
    """The sentinel before the invocation ends (FR-100): the client reconnects at once."""
    return {"reason": "timeout_imminent", "remaining_ms": remaining_ms, "trace_id": trace_id}
