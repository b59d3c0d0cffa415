"""The SSE wire format: how events are framed (WHATWG ``text/event-stream``) and the ASGI messages that carry them.

A stream's response starts with ``retry: 3000`` (FR-088: the client's reconnect delay after an abnormal
end), then one frame per event. JSON data goes on one ``data:`` line; text with newlines becomes one
``data:`` line per line, as the format requires.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from contract.xray import TRACE_HEADER

#: FR-088: the reconnect delay the client is told, in milliseconds.
RETRY_MS = 3000

#: An event stream is never cached or buffered by a proxy on the way.
_STREAM_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"))


def frame(event: Optional[str] = None, data: Any = None, event_id: Optional[str] = None,
          retry: Optional[int] = None) -> bytes:
    """One SSE frame: the given fields, then the blank line that dispatches it."""
    lines = []
    if retry is not None:
        lines.append(f"retry: {retry}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    if data is not None:
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), default=str)
        lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def trace_header_value(trace_id: Optional[str]) -> str:
    """The response's ``x-amzn-trace-id``: the stream's root, which the browser client can read (FR-082)."""
    return f"Root={trace_id}"


def response_start(trace_id: Optional[str]) -> dict:
    """The ASGI message that opens a stream's 200 response."""
    return {"type": "http.response.start", "status": 200,
            "headers": [*_STREAM_HEADERS, (TRACE_HEADER.encode(), trace_header_value(trace_id).encode())]}


def body(data: bytes, more: bool = True) -> dict:
    """An ASGI body message; ``more=False`` ends the response."""
    return {"type": "http.response.body", "body": data, "more_body": more}
