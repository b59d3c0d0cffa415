"""The buffered Lambdas' tracer, logger and trace bounds (D4, D10, D12 in docs/decisions.md).

* One Powertools ``Tracer`` and one ``Logger`` per process. The Tracer is the only patching mechanism
  (FR-030, SC-012): it patches botocore only (one subsegment per AWS call); nobody calls ``patch_all``.
  Outgoing HTTP goes through ``common.remote.remote_call`` instead of the SDK's httplib patch, which would
  emit three subsegments per request and no counts. The recorder keeps its default thread-local context,
  never the SDK's async context class (FR-037); ``common.parallel`` hands the context to worker threads.
* The Logger writes JSON with the X-Ray trace id as the top-level ``xray_trace_id`` field of every line
  (FR-012, US5). Powertools reads it from the trace header variable per record, so a warm invocation never
  logs the previous invocation's id. There are no correlation-id functions (FR-010/011/024).
* Bounds (D10, FR-058), all from ``contract.xray``: annotation keys and values are checked at the call site
  (a violation raises ``InstrumentationError``, loud, never dropped); annotation keys per trace are budgeted
  (the overflow goes to metadata); metadata values are capped; and the emitter bounds every document that
  leaves the process, Powertools' own included: exception messages, stack frames and the document size.
"""
from __future__ import annotations

import json
import os
import threading
import traceback
from typing import Any, Optional, cast

from aws_lambda_powertools import Logger, Tracer
from aws_xray_sdk.core.emitters.udp_emitter import PROTOCOL_DELIMITER, PROTOCOL_HEADER, UDPEmitter
from aws_xray_sdk.core.recorder import AWSXRayRecorder

from contract.metrics import FALLBACK_MESSAGE_LIMIT
from contract.xray import (
    ANNOTATION_BUDGET_BUFFERED,
    ANNOTATION_KEY,
    MAX_ANNOTATION_STR,
    MAX_DOCUMENT_BYTES,
    MAX_ERROR_MESSAGE,
    MAX_METADATA_VALUE_BYTES,
    MAX_STACK_FRAMES,
    TRACE_ENV,
)

from .config import MissingEnvironmentError

#: Exception messages in every log line (and in error metadata) are cut as the fallback line's are, so one
#: bound covers all that reaches CloudWatch Logs.
LOG_MESSAGE_LIMIT = FALLBACK_MESSAGE_LIMIT
#: Annotation keys Powertools adds to ``## handler`` itself; they count against the budget.
POWERTOOLS_ANNOTATIONS = frozenset({"ColdStart", "Service"})

_TRUNCATED = "...[truncated]"

tracer = Tracer(patch_modules=("botocore",))
logger = Logger(utc=True)


def recorder() -> AWSXRayRecorder:
    """``tracer.provider`` as the X-Ray SDK's recorder it is. Powertools types the provider as its narrow
    ``BaseProvider`` interface, which lacks the recorder's context methods (``get_trace_entity``,
    ``set_trace_entity``, ``clear_trace_entities``) and ``configure``; the default provider, the only one used
    here, is ``aws_xray_sdk.core.xray_recorder``."""
    return cast(AWSXRayRecorder, tracer.provider)


class InstrumentationError(ValueError):
    """Misuse of the tracing facade. It propagates (FR-018): a silent-failure block never swallows it."""


#: Errors that are never business failures: a silent-failure block, a worker thread of ``run_parallel`` and any
#: other aggregation in ``common`` re-raise them instead of counting them (FR-018).
NEVER_SWALLOWED = (InstrumentationError, MissingEnvironmentError)


def bounded_message(exc: BaseException, limit: int = MAX_ERROR_MESSAGE) -> str:
    """``str(exc)``, cut to ``limit`` characters with a visible marker."""
    text = str(exc)
    return text if len(text) <= limit else text[: limit - len(_TRUNCATED)] + _TRUNCATED


def bounded_stack(exc: BaseException) -> list:
    """The innermost frames of ``exc``'s traceback, as many as a document may carry."""
    return traceback.extract_tb(exc.__traceback__)[-MAX_STACK_FRAMES:]


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


def _too_big(body: str) -> bool:
    return len(body.encode()) + len(PROTOCOL_HEADER) + 1 > MAX_DOCUMENT_BYTES


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
        if _too_big(body):
            dropped = len(body.encode())
            entity.metadata = {"bounds": {"metadata_dropped": True, "original_bytes": dropped}}
            body = entity.serialize()
            if _too_big(body):
                raise InstrumentationError(f"trace document {entity.name!r} is {dropped} bytes even without metadata")
        try:
            self._send_data(f"{PROTOCOL_HEADER}{PROTOCOL_DELIMITER}{body}")
        except OSError as exc:  # a local refusal to send (the SDK logs and goes on too); the canary detects the loss
            trace = getattr(entity, "trace_id", None)
            if trace != self._warned_trace:
                self._warned_trace = trace
                logger.warning("X-Ray daemon unreachable, trace documents dropped", extra={
                    "daemon_address": f"{self.ip}:{self.port}", "exception_type": type(exc).__name__,
                    "exception_message": bounded_message(exc, LOG_MESSAGE_LIMIT)})


if not tracer.disabled:
    recorder().configure(emitter=BoundedUDPEmitter(), max_trace_back=MAX_STACK_FRAMES)


# -- annotations and metadata ---------------------------------------------------------------------------
_budget_lock = threading.Lock()
_budget: dict[str, set[str]] = {}


def current_trace_id() -> Optional[str]:
    """The Root of this invocation's trace header, or None without one."""
    for part in os.environ.get(TRACE_ENV, "").split(";"):
        if part.startswith("Root="):
            return part[5:]
    return None


def _check_key(kind: str, key: Any) -> None:
    if not isinstance(key, str) or not ANNOTATION_KEY.match(key):
        raise InstrumentationError(f"{kind} key {key!r} must match [A-Za-z0-9_]+ (D10)")


def _check_annotation(key: str, value: Any) -> None:
    _check_key("annotation", key)
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
        used = _budget.setdefault(trace, set(POWERTOOLS_ANNOTATIONS))
        if len(_budget) > 1:  # a new trace: forget the previous ones
            for other in [t for t in _budget if t != trace]:
                del _budget[other]
        accepted: dict[str, Any] = {}
        overflow: dict[str, Any] = {}
        for key, value in values.items():
            if key in used or len(used) < ANNOTATION_BUDGET_BUFFERED:
                used.add(key)
                accepted[key] = value
            else:
                overflow[key] = value
    for key, value in accepted.items():
        tracer.put_annotation(key, value)
    if overflow:
        put_metadata("annotations_overflow", overflow)


def put_metadata(key: str, value: Any) -> None:
    """Metadata under the service namespace, capped: a value that serialises above the bound becomes a preview."""
    _check_key("metadata", key)
    if tracer.disabled:
        return
    raw = json.dumps(value, default=str)
    if len(raw.encode()) > MAX_METADATA_VALUE_BYTES:
        value = {"truncated": True, "original_bytes": len(raw.encode()), "preview": raw[:1024]}
    tracer.put_metadata(key, value)
