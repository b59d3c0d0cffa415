"""Explicit ``remote`` subsegments for the HTTP calls botocore patching does not see (news APIs, SendGrid).

The SDK's httplib patch would emit three subsegments per request and no counts; one explicit subsegment per
request carries what an operator needs instead: method, URL without query string, status, duration, the
caller's counts and bounded error details, never bodies (FR-028, SC-011).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional, cast
from urllib.parse import urlsplit, urlunsplit

from aws_xray_sdk.core.models.subsegment import Subsegment

from .tracing import LOG_MESSAGE_LIMIT, annotate, bounded_message, put_metadata, tracer


def safe_url(url: str) -> str:
    """URL without query string or credentials: tokens and personal data never reach a trace."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "",
                       parts.path, "", ""))


@dataclass
class RemoteCall:
    """Filled in by the caller inside ``remote_call``: the HTTP status; ``duration_ms`` is set on exit."""

    status: Optional[int] = None
    duration_ms: float = 0.0


@contextmanager
def remote_call(name: str, *, method: str, url: str, **annotations: Any) -> Iterator[RemoteCall]:
    """An explicit ``remote`` subsegment with HTTP status, duration and bounded error details (FR-028, SC-011).

    On an exception the subsegment is error-marked (4xx: ``error``, 5xx or no response: ``fault``) with the
    exception recorded, and the exception propagates: the caller decides whether it is fatal.
    """
    call = RemoteCall()
    started = time.perf_counter()
    with tracer.provider.in_subsegment(name) as entered:
        sub = cast(Subsegment, entered)  # the recorder's subsegment; Powertools' BaseSegment omits namespace and HTTP meta
        sub.namespace = "remote"
        sub.put_http_meta("method", method)
        sub.put_http_meta("url", safe_url(url))
        annotate(**annotations)
        try:
            yield call
        except Exception as exc:
            call.status = call.status or getattr(exc, "status_code", None) or getattr(exc, "status", None)
            put_metadata("error", {"type": type(exc).__name__, "status": call.status,
                                   "reason": bounded_message(getattr(exc, "reason", None) or exc, LOG_MESSAGE_LIMIT)})
            raise
        finally:
            call.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            if call.status is not None:
                sub.put_http_meta("status", int(call.status))  # sets error (4xx) / fault (5xx) flags too
                annotate(http_status=int(call.status))
            annotate(duration_ms=call.duration_ms)
