"""The one place that knows tracing for the buffered Lambdas (D4, D10, D12).

* One Powertools ``Tracer`` and one ``Logger`` per process. The Tracer is the only patching mechanism
  (FR-030, SC-012): it patches botocore only (one subsegment per AWS call); nobody calls ``patch_all``.
  Outgoing HTTP to the news APIs and SendGrid goes through ``remote_call``: one explicit subsegment per
  request with status and duration (the SDK's httplib patch would emit three per request, without counts). The recorder keeps its default thread-local
  context: never ``AsyncContext`` (FR-037).
* The Logger writes JSON with the X-Ray trace id (``1-8hex-24hex``) as the top-level ``xray_trace_id`` field
  of every line (FR-012, US5); Powertools reads it from ``_X_AMZN_TRACE_ID`` per record, so warm invocations
  never log a stale id. There are no correlation-id functions (FR-010/011/024).
* Bounds (D10, FR-058): annotation keys ``[A-Za-z0-9_]`` and values str (<= 1,000 chars)/int/float/bool, a
  budget of annotation keys per trace (overflow goes to metadata), metadata values capped, and an emitter
  that bounds every document: exception messages <= 2,048 chars, <= 10 stack frames, < 64 KB on the wire.
  Violations at a call site raise ``InstrumentationError`` (loud, never dropped).
"""
from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, TypeVar
from urllib.parse import urlsplit, urlunsplit

from aws_lambda_powertools import Logger, Tracer
from aws_xray_sdk.core.emitters.udp_emitter import PROTOCOL_DELIMITER, PROTOCOL_HEADER, UDPEmitter
from aws_xray_sdk.core.models.trace_header import TraceHeader

from .config import MissingEnvironmentError

MAX_ERROR_MESSAGE = 2048
MAX_STACK_FRAMES = 10
MAX_DOCUMENT_BYTES = 64 * 1024 - 1  # the daemon's and PutTraceSegments' limit is 64 KB per document
MAX_ANNOTATION_STR = 1000
MAX_METADATA_VALUE_BYTES = 8 * 1024
#: Annotation keys one invocation may add to its trace (D10: dashboard <= 15; every buffered Lambda uses the
#: same budget, so ingestion + analysis, which share a trace, stay far below X-Ray's 50). Powertools' own
#: ``ColdStart`` and ``Service`` count too.
ANNOTATION_BUDGET = 15

_TRUNCATED = "...[truncated]"
_KEY = re.compile(r"^[A-Za-z0-9_]{1,250}$")

tracer = Tracer(patch_modules=("botocore",))
logger = Logger(utc=True)


class InstrumentationError(ValueError):
    """Misuse of the tracing facade. It propagates (FR-018): a silent-failure block never swallows it."""


#: Errors that are never business failures: a silent-failure block, a worker thread of ``run_parallel`` and any
#: other aggregation in ``common`` re-raise them instead of counting them (FR-018).
NEVER_SWALLOWED = (InstrumentationError, MissingEnvironmentError)


# -- the emitter: every document bounded before it leaves the process --------------------------------------
def _bound_cause(entity: Any) -> None:
    cause = getattr(entity, "cause", None)
    if not isinstance(cause, dict):
        return
    for throwable in cause.get("exceptions", []):
        message = getattr(throwable, "message", None)
        if isinstance(message, str) and len(message) > MAX_ERROR_MESSAGE:
            throwable.message = message[: MAX_ERROR_MESSAGE - len(_TRUNCATED)] + _TRUNCATED
        stack = getattr(throwable, "stack", None)
        if isinstance(stack, list) and len(stack) > MAX_STACK_FRAMES:
            throwable.stack = stack[:MAX_STACK_FRAMES]
            throwable.truncated = len(stack) - MAX_STACK_FRAMES


class BoundedUDPEmitter(UDPEmitter):
    """The SDK's UDP emitter with FR-058's bounds applied to every (sub)segment, including Powertools' own.

    A document the daemon would drop for size is instead sent without its metadata (replaced by a marker);
    if even that is too large, it raises: a lost document must never be silent.

    Transport: the SDK's non-blocking UDP socket, so a dead, absent or unreachable daemon can neither block nor
    fail an invocation. A datagram to a closed port is simply lost (UDP); a local refusal (``OSError`` from
    ``sendto``) is logged as ONE warning per trace, not one per document, and the handler goes on. Whether
    documents arrive is the canary's job (US6/US9), not the handler's.
    """

    _warned_trace: Optional[str] = None

    def send_entity(self, entity: Any) -> None:
        _bound_cause(entity)
        body = entity.serialize()
        if len(body.encode()) + len(PROTOCOL_HEADER) + 1 > MAX_DOCUMENT_BYTES:
            dropped = len(body.encode())
            entity.metadata = {"bounds": {"metadata_dropped": True, "original_bytes": dropped}}
            body = entity.serialize()
            if len(body.encode()) + len(PROTOCOL_HEADER) + 1 > MAX_DOCUMENT_BYTES:
                raise InstrumentationError(f"trace document {entity.name!r} is {dropped} bytes even without metadata")
        try:
            self._send_data(f"{PROTOCOL_HEADER}{PROTOCOL_DELIMITER}{body}")
        except OSError as exc:  # a local refusal to send (the SDK logs and goes on too); the canary detects the loss
            trace = getattr(entity, "trace_id", None)
            if trace != self._warned_trace:
                self._warned_trace = trace
                logger.warning("X-Ray daemon unreachable, trace documents dropped", extra={
                    "daemon_address": f"{self.ip}:{self.port}", "exception_type": type(exc).__name__,
                    "exception_message": bounded_message(exc, 256)})


if not tracer.disabled:
    tracer.provider.configure(emitter=BoundedUDPEmitter(), max_trace_back=MAX_STACK_FRAMES)


def bounded_stack(exc: BaseException) -> list:
    return traceback.extract_tb(exc.__traceback__)[-MAX_STACK_FRAMES:]


# -- annotations and metadata ---------------------------------------------------------------------------
_budget_lock = threading.Lock()
_budget: dict[str, set[str]] = {}


def current_trace_id() -> Optional[str]:
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    for part in header.split(";"):
        if part.startswith("Root="):
            return part[5:]
    return None


def _check_annotation(key: str, value: Any) -> None:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InstrumentationError(f"annotation key {key!r} must match [A-Za-z0-9_]+ (D10)")
    if value is None or not isinstance(value, (str, int, float, bool)):
        raise InstrumentationError(f"annotation {key!r}: value of type {type(value).__name__} is not str/int/float/bool (D10)")
    if isinstance(value, str) and len(value) > MAX_ANNOTATION_STR:
        raise InstrumentationError(f"annotation {key!r}: {len(value)} chars exceeds {MAX_ANNOTATION_STR} (D10)")


def annotate(**values: Any) -> None:
    """Add indexed annotations to the current subsegment, within the per-trace key budget (D10).

    Keys beyond the budget go to metadata under ``annotations_overflow`` rather than being dropped.
    """
    for key, value in values.items():
        _check_annotation(key, value)
    if tracer.disabled:
        return
    trace = current_trace_id() or "-"
    with _budget_lock:
        used = _budget.setdefault(trace, {"ColdStart", "Service"})
        if len(_budget) > 1:  # a new trace: forget the previous ones
            for other in [t for t in _budget if t != trace]:
                del _budget[other]
        accepted: dict[str, Any] = {}
        overflow: dict[str, Any] = {}
        for key, value in values.items():
            if key in used or len(used) < ANNOTATION_BUDGET:
                used.add(key)
                accepted[key] = value
            else:
                overflow[key] = value
    for key, value in accepted.items():
        tracer.put_annotation(key, value)
    if overflow:
        put_metadata("annotations_overflow", overflow)


def put_metadata(key: str, value: Any) -> None:
    """Metadata under the service namespace, capped: a value that serialises above 8 KB becomes a preview."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise InstrumentationError(f"metadata key {key!r} must match [A-Za-z0-9_]+ (D10)")
    if tracer.disabled:
        return
    raw = json.dumps(value, default=str)
    if len(raw.encode()) > MAX_METADATA_VALUE_BYTES:
        value = {"truncated": True, "original_bytes": len(raw.encode()), "preview": raw[:1024]}
    tracer.put_metadata(key, value)


def bounded_message(exc: BaseException, limit: int = MAX_ERROR_MESSAGE) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[: limit - len(_TRUNCATED)] + _TRUNCATED


def safe_url(url: str) -> str:
    """URL without query string or credentials: tokens and PII never reach a trace (DESIGN §9)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "",
                       parts.path, "", ""))


# -- explicit subsegments for what auto-patching misses ----------------------------------------------------
@dataclass
class RemoteCall:
    """Filled in by the caller inside ``remote_call``: the HTTP status and what was sent (counts, never bodies)."""

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
    with tracer.provider.in_subsegment(name) as sub:
        sub.namespace = "remote"
        sub.put_http_meta("method", method)
        sub.put_http_meta("url", safe_url(url))
        annotate(**annotations)
        try:
            yield call
        except Exception as exc:
            call.status = call.status or getattr(exc, "status_code", None) or getattr(exc, "status", None)
            put_metadata("error", {"type": type(exc).__name__, "status": call.status,
                                   "reason": bounded_message(getattr(exc, "reason", None) or exc, 256)})
            raise
        finally:
            call.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            if call.status is not None:
                sub.put_http_meta("status", int(call.status))  # sets error (4xx) / fault (5xx) flags too
                annotate(http_status=int(call.status))
            annotate(duration_ms=call.duration_ms)


# -- threads: hand the parent subsegment to workers (the context is thread-local by design, FR-025/037) ----
T = TypeVar("T")


def run_parallel(calls: dict[str, Callable[[], T]]) -> dict[str, T | Exception]:
    """Run callables in threads; subsegments they open nest under the caller's current subsegment.

    Returns each result or the exception it raised (the caller aggregates errors), except for
    ``NEVER_SWALLOWED`` errors: the first of those is re-raised here, so an instrumentation error in a worker
    fails the invocation instead of becoming a "source failed" business result (FR-018).
    """
    parent = None if tracer.disabled else tracer.provider.get_trace_entity()

    def wrap(fn: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            if parent is not None:
                tracer.provider.set_trace_entity(parent)
            try:
                return fn()
            finally:
                if parent is not None:
                    tracer.provider.clear_trace_entities()
        return run

    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = {key: pool.submit(wrap(fn)) for key, fn in calls.items()}
    out: dict[str, T | Exception] = {}
    for key, fut in futures.items():
        exc = fut.exception()
        if isinstance(exc, NEVER_SWALLOWED):
            raise exc
        out[key] = exc if exc is not None else fut.result()
    return out


# -- the handler boundary -------------------------------------------------------------------------------------
F = TypeVar("F", bound=Callable[..., Any])


def handler_boundary(fn: F) -> F:
    """Wrap ``@tracer.capture_lambda_handler`` (put it between that and ``@logger.inject_lambda_context``).

    * Per-invocation context: the SDK's Lambda context re-reads ``_X_AMZN_TRACE_ID`` only when the *Root*
      changes, so a warm invocation with the same Root and a new Parent (two SNS publishes of one ingestion
      trace reaching the same analysis instance) would hang ``## handler`` off the previous Parent. When the
      Parent differs from the facade's id (or the current entity is a subsegment leaked from an earlier
      invocation), the stale context is cleared first. A missing or Root/Parent-less header clears it too: the SDK
      would otherwise keep the previous invocation's segment and file this invocation's documents under the
      previous trace id; cleared, it builds a no-op segment and nothing is misattributed.
    * An exception leaving the handler is logged once as an ERROR line (with the trace id, FR-012) and re-raised.
    """
    @functools.wraps(fn)
    def wrapper(event: Any, context: Any) -> Any:
        if not tracer.disabled:
            header = TraceHeader.from_header_str(os.environ.get("_X_AMZN_TRACE_ID"))
            if not header.root or not header.parent:
                tracer.provider.clear_trace_entities()
            elif getattr(tracer.provider.get_trace_entity(), "id", None) != header.parent:
                tracer.provider.clear_trace_entities()
        try:
            return fn(event, context)
        except Exception as exc:
            logger.error("invocation failed", extra={"exception_type": type(exc).__name__,
                                                     "exception_message": bounded_message(exc, 256)})
            raise
    return wrapper  # type: ignore[return-value]
