"""Every request value the stream endpoints read, parsed and checked before a stream takes a slot.

A value the app cannot use is a ``BadRequest`` (400, with the reason in the body), never an exception
later in the stream: a stream that failed after taking its slot would keep it. Numbers are parsed only from
ASCII digits of bounded length (``str.isdigit`` also accepts ``²``, and ``int`` refuses more than 4,300
digits), JSON values are type-checked, and a ``Last-Event-ID`` is bounded in length.
"""
from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from contract.data import RESOLUTIONS
from contract.streaming import LAMBDA_CONTEXT_HEADER
from contract.xray import TRACE_ID
from handlers.sse.feed import EventId

MAX_TICKERS = 20
_TICKER = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,9}")
#: A session id.
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{8,64}")
_CONFIG_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_CONNECTION_SEQUENCE = 1_000_000
_SEQUENCE = re.compile(r"[0-9]{1,7}")
#: The ids this service sends are 27 characters at most; a client may send another server's id, not a novel.
MAX_LAST_EVENT_ID = 256


class BadRequest(ValueError):
    """A request value the app refuses; the message says which and what it accepts."""


def _csv(value: Optional[str]) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_tickers(value: Optional[str]) -> frozenset[str]:
    """``tickers=AAPL,BRK.B``: at most 20 symbols, upper-cased. Empty: every ticker."""
    tickers = [t.upper() for t in _csv(value)]
    if len(tickers) > MAX_TICKERS or not all(_TICKER.fullmatch(t) for t in tickers):
        raise BadRequest(f"tickers: at most {MAX_TICKERS} symbols like AAPL or BRK.B")
    return frozenset(tickers)


def parse_resolutions(value: Optional[str]) -> tuple[str, ...]:
    """``resolutions=1m,1h``: each event then carries its bucket start at those resolutions."""
    resolutions = _csv(value)
    bad = [r for r in resolutions if r not in RESOLUTIONS]
    if bad:
        raise BadRequest(f"resolutions: unknown {bad}; choose from {list(RESOLUTIONS)}")
    return tuple(dict.fromkeys(resolutions))


@dataclass(frozen=True)
class Reconnect:
    """FR-048: a stable ``session_id`` per logical stream; a reconnect names the trace it follows."""

    session_id: str
    previous_trace_id: Optional[str]
    connection_sequence: Optional[int]

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Reconnect:
        session = query.get("session_id") or uuid.uuid4().hex
        if not _TOKEN.fullmatch(session):
            raise BadRequest("session_id: 8-64 characters [A-Za-z0-9_-]")
        previous = query.get("previous_trace_id") or None
        if previous is not None and not TRACE_ID.fullmatch(previous):
            raise BadRequest("previous_trace_id: an X-Ray trace id 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx")
        raw = query.get("connection_sequence")
        sequence = None
        if raw is not None:
            if not _SEQUENCE.fullmatch(raw) or not 1 <= int(raw) <= MAX_CONNECTION_SEQUENCE:
                raise BadRequest(f"connection_sequence: an integer from 1 to {MAX_CONNECTION_SEQUENCE:,}")
            sequence = int(raw)
        return cls(session, previous, sequence)


def parse_last_event_id(value: Optional[str]) -> Optional[EventId]:
    """FR-081: the id to resume after. Any id is accepted (one this instance does not know starts at the
    live head, as EventSource clients expect); only an id no server of this kind sends is refused."""
    if value is None or value == "":
        return None
    if len(value) > MAX_LAST_EVENT_ID:
        raise BadRequest(f"Last-Event-ID: at most {MAX_LAST_EVENT_ID} characters")
    return EventId.parse(value)


def parse_deadline(header: Optional[str]) -> Optional[float]:
    """The invocation's deadline (epoch ms) from the Web Adapter's ``x-amzn-lambda-context`` header: its
    ``deadline`` field. None when there is no header or it has no deadline."""
    if not header:
        return None
    reason = f"{LAMBDA_CONTEXT_HEADER}: a JSON object whose 'deadline' is epoch milliseconds"
    try:
        context: Any = json.loads(header)
    except ValueError:  # also a number of more than 4,300 digits
        raise BadRequest(reason) from None
    if not isinstance(context, dict):
        raise BadRequest(reason)
    deadline = context.get("deadline")
    if deadline is None or deadline == 0:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not math.isfinite(deadline) \
            or deadline < 0:
        raise BadRequest(reason)
    return float(deadline)


def check_config_id(config_id: str) -> str:
    if not _CONFIG_ID.fullmatch(config_id):
        raise BadRequest("invalid configuration id")
    return config_id


@dataclass(frozen=True)
class StreamRequest:
    """What a stream was asked for, all of it checked."""

    tickers: frozenset[str]
    resolutions: tuple[str, ...]
    reconnect: Reconnect
    last_event_id: Optional[EventId]
    deadline_ms: Optional[float]

    @classmethod
    def parse(cls, query: Mapping[str, str], headers: Mapping[str, str], tickers: Optional[str],
              fallback_deadline_ms: Optional[float]) -> StreamRequest:
        """``tickers`` is the filter's source (the query's, or a configuration's); ``headers`` is
        case-insensitive (Starlette's). A deadline header wins over ``fallback_deadline_ms``."""
        deadline = parse_deadline(headers.get(LAMBDA_CONTEXT_HEADER))
        return cls(tickers=parse_tickers(tickers), resolutions=parse_resolutions(query.get("resolutions")),
                   reconnect=Reconnect.from_query(query),
                   last_event_id=parse_last_event_id(headers.get("last-event-id")),
                   deadline_ms=fallback_deadline_ms if deadline is None else deadline)
