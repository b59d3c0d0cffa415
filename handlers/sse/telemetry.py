"""The SSE service's OpenTelemetry bootstrap (D2, D3): one provider, per-request context, bounded flush.

The Lambda's own X-Ray segment closes when the Web Adapter starts streaming, so everything the stream does
is traced here instead: OTel SDK -> OTLP/HTTP -> the ADOT collector extension -> X-Ray. What must hold:

- **One** module-level ``TracerProvider`` (FR-065), built from the environment the program gives the function
  (``OTEL_*``); nothing is extracted at import (FR-059).
- The parent of every stream's spans comes from *that request's* ``X-Amzn-Trace-Id`` (case-insensitive
  carrier, D2), or ``_X_AMZN_TRACE_ID`` when a bootstrap sets it per invocation, through the
  ``xray-lambda`` propagator only, so a W3C ``traceparent`` never wins (FR-052).
- ``parentbased_always_on`` (FR-056): ``Sampled=0`` exports nothing. ``AwsXRayIdGenerator`` (FR-053).
- ``force_flush`` ignores its timeout in SDK 1.45 and can export several batches in a row, so the flush
  runs on one worker thread (``flush.FlushWorker``: one flush running, at most one waiting, every request
  joining the waiting one; issue 10) and a caller waits for it at most the exporter timeout (D3, FR-139):
  a dead collector delays the end of a stream by that much, never raises and never costs a thread.
  A stream that recorded no span (``Sampled=0``) has nothing of its own to send and does not wait.
- X-Ray annotations are span attributes listed in ``aws.xray.annotations`` (the awsxray exporter indexes
  exactly those keys); keys and values are checked at the call site (D10), errors are bounded (FR-058).

Kill switch (FR-108): ``OTEL_SDK_DISABLED=true`` (the SDK's own variable and parsing: case-insensitive
``true``, anything else means enabled) turns tracing off without a new image. Then no exporter, processor or
export thread is built, every span is a no-op, a flush returns at once and nothing is ever sent to the
collector; the stream itself is unchanged. The OTel settings (propagator, sampler, protocol, service name,
exporter timeout) are not checked, so a broken OTel configuration -- the likely reason to pull the switch --
cannot stop the app from starting (the non-OTel checks, e.g. ``AWS_LAMBDA_EXEC_WRAPPER``, still apply). The
request's ``X-Amzn-Trace-Id`` is still read, so events and log lines keep the Lambda trace id (FR-115, D12);
without one, an X-Ray-format id is generated for them. Unset the variable to turn tracing back on.
"""
from __future__ import annotations

import asyncio
import os
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, wait
from contextlib import contextmanager
from typing import Any, Optional

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator
from opentelemetry.sdk.extension.aws.resource._lambda import AwsLambdaResourceDetector
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource, get_aggregated_resources
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, Status, StatusCode

from contract import metrics, streaming
from contract.xray import (
    ANNOTATION_KEY,
    ANNOTATIONS_ATTRIBUTE,
    MAX_ANNOTATION_STR,
    MAX_ERROR_MESSAGE,
    MAX_STACK_FRAMES,
    TRACE_ID,
)
from handlers.sse.flush import FlushWorker
from handlers.sse.log import get_logger

#: The length of a span status description (the full message is on the exception event).
MAX_STATUS_DESCRIPTION = 256


class TelemetryConfigError(RuntimeError):
    """The environment asks for an OTel setup that breaks the streaming trace contract (fail fast, FR-106)."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def sdk_disabled() -> bool:
    """FR-108: ``OTEL_SDK_DISABLED``, parsed exactly as the SDK parses it (so the two never disagree)."""
    return os.environ.get(streaming.SDK_DISABLED_VAR, "").strip().lower() == "true"


def _check_exec_wrapper() -> None:
    if os.environ.get(streaming.EXEC_WRAPPER_VAR):
        raise TelemetryConfigError(f"{streaming.EXEC_WRAPPER_VAR} is set: it double-wraps the handler (FR-046); "
                                   "remove it")


def _check_environment() -> None:
    propagators = _env("OTEL_PROPAGATORS", streaming.PROPAGATOR)
    if propagators != streaming.PROPAGATOR:
        raise TelemetryConfigError(f"OTEL_PROPAGATORS={propagators!r}: the SSE service needs exactly "
                                   f"{streaming.PROPAGATOR!r} (FR-052; a W3C traceparent must never win over the "
                                   "X-Ray header)")
    sampler = _env("OTEL_TRACES_SAMPLER", streaming.SAMPLER)
    if sampler != streaming.SAMPLER:
        raise TelemetryConfigError(f"OTEL_TRACES_SAMPLER={sampler!r}: use {streaming.SAMPLER!r} (FR-056: "
                                   "'always_on' exports orphan spans for Sampled=0 requests)")
    protocol = _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", _env("OTEL_EXPORTER_OTLP_PROTOCOL", streaming.PROTOCOL))
    if protocol != streaming.PROTOCOL:
        raise TelemetryConfigError(f"OTLP protocol {protocol!r}: the collector extension is reached over "
                                   f"{streaming.PROTOCOL} on {streaming.COLLECTOR_ENDPOINT} (FR-054)")
    _check_exec_wrapper()


def exporter_timeout_s() -> float:
    """The exporter's timeout in seconds (Python reads ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`` in seconds)."""
    raw = _env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", _env("OTEL_EXPORTER_OTLP_TIMEOUT", str(streaming.EXPORTER_TIMEOUT_S)))
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= streaming.MAX_EXPORTER_TIMEOUT_S:
        raise TelemetryConfigError(f"OTLP exporter timeout {raw!r} s is out of bounds (0, "
                                   f"{streaming.MAX_EXPORTER_TIMEOUT_S}]: it bounds every flush (D3)")
    return value


class CountedExporter(SpanExporter):
    """The OTLP exporter, saying so in the log each time a batch could not reach the collector. The SDK drops such a
    batch after its bounded retries and tells no one; this warning carries ``contract.metrics.
    APP_EXPORT_FAILURE_PHRASE``, which a metric filter on the function's log group counts into an alarm (the
    collector's own failed exports to X-Ray are counted the same way), so lost spans are seen on both hops."""

    def __init__(self, exporter: SpanExporter):
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            get_logger().warning(f"{metrics.APP_EXPORT_FAILURE_PHRASE}: {len(spans)} spans dropped",
                                 spans_dropped=len(spans))
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class Telemetry:
    """The process's tracing state: provider, tracer, propagator and the bounded flush.

    With ``OTEL_SDK_DISABLED=true`` (FR-108) ``enabled`` is False: no provider, exporter or processor
    exists, ``tracer`` is a no-op tracer and ``flush`` returns True at once.
    """

    enabled = True
    provider: Optional[TracerProvider] = None
    tracer: trace.Tracer
    _flusher: Optional[FlushWorker] = None

    def __init__(self) -> None:
        self.propagator = AwsXRayLambdaPropagator()
        otel_name, powertools_name = streaming.SERVICE_NAME_VARS
        self.service_name = _env(otel_name, _env(powertools_name, streaming.SERVICE_NAME))
        if sdk_disabled():
            _check_exec_wrapper()
            self.enabled = False
            self.exporter_timeout_s = 0.0
            self.tracer = trace.NoOpTracer()
            self._ids = AwsXRayIdGenerator()
            return
        _check_environment()
        # Imported here so that the cold-import benchmark can measure the app with and without OTel.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        powertools = os.environ.get(powertools_name)
        if powertools and powertools != self.service_name:
            raise TelemetryConfigError(f"{otel_name}={self.service_name!r} differs from {powertools_name}="
                                       f"{powertools!r}: the service map would show two nodes (FR-047)")
        resource = get_aggregated_resources([AwsLambdaResourceDetector()],
                                            Resource.create({"service.name": self.service_name}))
        self.exporter_timeout_s = exporter_timeout_s()
        self.provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_ON),
                                       id_generator=AwsXRayIdGenerator(), shutdown_on_exit=False)
        # Endpoint, headers and compression come from OTEL_EXPORTER_OTLP_* as the SDK reads them.
        self.exporter = CountedExporter(OTLPSpanExporter(timeout=self.exporter_timeout_s))
        self.processor = BatchSpanProcessor(
            self.exporter,
            schedule_delay_millis=float(_env("OTEL_BSP_SCHEDULE_DELAY", str(streaming.BSP_SCHEDULE_DELAY_MS))),
            max_export_batch_size=int(_env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", str(streaming.BSP_MAX_EXPORT_BATCH_SIZE))),
            max_queue_size=int(_env("OTEL_BSP_MAX_QUEUE_SIZE", str(streaming.BSP_MAX_QUEUE_SIZE))))
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("sentiment.sse")
        self._flusher = FlushWorker(self.provider.force_flush)

    def new_trace_id(self) -> str:
        """An X-Ray-format id for a stream without a usable header while tracing is off (FR-108): events,
        the response header and log lines keep their shape; no trace of that id exists."""
        return xray_trace_id(self._ids.generate_trace_id())

    # -- context ------------------------------------------------------------------------------------
    def extract(self, headers: Mapping[str, str]) -> Context:
        """The parent context of one request (D2): its X-Ray header, or ``_X_AMZN_TRACE_ID`` when set.

        Called per request, never at import (FR-059). The carrier is case-insensitive because the Web
        Adapter forwards ``x-amzn-trace-id`` while clients send ``X-Amzn-Trace-Id``. An empty starting
        context is passed so a span that happens to be current can never shadow the request's header.
        """
        return self.propagator.extract(CaseInsensitiveCarrier(headers), context=Context())

    # -- flush --------------------------------------------------------------------------------------
    def flush(self, bound_s: Optional[float] = None) -> bool:
        """Export everything queued, waiting at most ``bound_s`` (default: the exporter timeout).

        Returns True when the export finished within the bound. The export keeps running on the flush
        worker otherwise; it never raises (D3: a dead collector delays, it does not break the stream).
        """
        done, _ = wait([self.request_flush()], self.exporter_timeout_s if bound_s is None else bound_s)
        return bool(done) and flushed(next(iter(done)))

    def request_flush(self) -> Future[bool]:
        """The future of a flush that starts after this call (so it exports every span ended before it);
        its result is True when the export finished. Wait for it with a bound; never cancel it (other
        streams wait for the same flush)."""
        if self._flusher is None:
            done: Future[bool] = Future()
            done.set_result(True)  # FR-108: nothing was recorded, nothing to send
            return done
        return self._flusher.request()


def flushed(future: Future[bool]) -> bool:
    """A finished flush's outcome: True when it sent everything; an export error is False (D3: never raised)."""
    return future.exception() is None and bool(future.result())


class CaseInsensitiveCarrier(dict):
    """A header carrier whose ``get`` ignores case (the propagator looks up ``X-Amzn-Trace-Id``)."""

    def __init__(self, headers: Mapping[str, str]):
        super().__init__((k.lower(), v) for k, v in headers.items())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


def xray_trace_id(trace_id: int) -> str:
    """OTel's 128-bit trace id in X-Ray's ``1-{8 hex epoch}-{24 hex}`` form (D12, FR-115)."""
    hexed = f"{trace_id:032x}"
    return f"1-{hexed[:8]}-{hexed[8:]}"


def is_xray_trace_id(value: str) -> bool:
    return bool(TRACE_ID.fullmatch(value))


def check_annotation(key: str, value: Any) -> Any:
    """D10: keys ``[A-Za-z0-9_]``, values str (<= 1,000 chars), int, float or bool. Anything else is a
    bug at the call site and raises (X-Ray would otherwise drop it with only a warning)."""
    if not isinstance(key, str) or not ANNOTATION_KEY.fullmatch(key):
        raise ValueError(f"annotation key {key!r} must match {ANNOTATION_KEY.pattern} (D10)")
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        if len(value) > MAX_ANNOTATION_STR:
            raise ValueError(f"annotation {key!r} is {len(value)} chars; the limit is {MAX_ANNOTATION_STR} (D10)")
        return value
    raise TypeError(f"annotation {key!r} has type {type(value).__name__}; use str, int, float or bool (D10)")


def bounded_exception_attributes(exc: BaseException) -> dict[str, str]:
    """``record_exception`` attributes bounded per FR-058 (``contract.xray``: message length, stack frames)."""
    frames = traceback.extract_tb(exc.__traceback__)[-MAX_STACK_FRAMES:]
    stack = "".join(traceback.format_list([f])[0] for f in frames) + f"{type(exc).__name__}: {str(exc)[:MAX_ERROR_MESSAGE]}\n"
    return {"exception.message": str(exc)[:MAX_ERROR_MESSAGE], "exception.stacktrace": stack}


class SpanHandle:
    """A live span plus the annotation keys set on it (written to ``aws.xray.annotations`` at the end)."""

    def __init__(self, span: trace.Span):
        self.span = span
        self.annotations: dict[str, Any] = {}

    def annotate(self, **values: Any) -> None:
        """Checked now (the caller's bug surfaces at its line), written once when the span ends."""
        for key, value in values.items():
            self.annotations[key] = check_annotation(key, value)

    def _write_annotations(self) -> None:
        if self.annotations:
            self.span.set_attributes({**self.annotations, ANNOTATIONS_ATTRIBUTE: list(self.annotations)})

    def set(self, **attributes: Any) -> None:
        """Plain (non-indexed) attributes, e.g. semantic conventions; ``None`` values are skipped."""
        for key, value in attributes.items():
            if value is not None:
                self.span.set_attribute(key, value)

    @property
    def context(self) -> Context:
        return trace.set_span_in_context(self.span)

    def fail(self, exc: BaseException) -> None:
        """Both ``set_status(ERROR)`` and ``record_exception``: ADOT marks fault only with both (FR-144/150)."""
        self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {str(exc)[:MAX_STATUS_DESCRIPTION]}"))
        self.span.record_exception(exc, attributes=bounded_exception_attributes(exc))


class StreamTracer:
    """The tracer of one stream: every span is a child of the request's context (or of the stream's own
    root when the request carried none), and after the final flush no span starts (FR-149)."""

    def __init__(self, telemetry: Telemetry, parent: Context):
        self.telemetry = telemetry
        self.parent = parent
        self.flush_fired = False
        #: Spans this stream recorded (a ``Sampled=0`` request records none, so its flush has nothing to wait for).
        self.recorded = 0
        remote = trace.get_current_span(parent).get_span_context()
        self.has_remote_parent = remote.is_valid
        self.trace_id: Optional[str] = xray_trace_id(remote.trace_id) if remote.is_valid else None
        self.sampled = bool(remote.trace_flags.sampled) if remote.is_valid else True
        if self.trace_id is None and not telemetry.enabled:
            self.trace_id = telemetry.new_trace_id()  # FR-108: no root span will be made to take it from

    @contextmanager
    def span(self, name: str, kind: SpanKind = SpanKind.INTERNAL, parent: Optional[Context] = None,
             attributes: Optional[Mapping[str, Any]] = None) -> Iterator[SpanHandle]:
        """A child span of the request's context (or of ``parent``); ``attributes`` are set at its start
        (``None`` values skipped). An exception leaving the block marks the span failed."""
        if self.flush_fired:
            # FR-149: nothing may start after the final flush; a non-recording span keeps callers simple.
            yield SpanHandle(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))
            return
        span = self.telemetry.tracer.start_span(name, context=parent or self.parent, kind=kind,
                                                attributes={k: v for k, v in (attributes or {}).items() if v is not None})
        self.recorded += span.is_recording()
        if self.trace_id is None:
            # No usable header: this first span is the stream's root; the others hang below it.
            self.trace_id = xray_trace_id(span.get_span_context().trace_id)
            self.parent = trace.set_span_in_context(span)
        handle = SpanHandle(span)
        try:
            yield handle
        except BaseException as exc:
            # A stream cancelled because its client left (or the server stops) is no fault of this span.
            if not isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
                handle.fail(exc)
            raise
        finally:
            handle._write_annotations()
            span.end()

    def close(self) -> Optional[Future[bool]]:
        """The stream's last flush requested: afterwards no span starts (FR-149). None when this stream
        recorded nothing, so there is nothing of its own to wait for."""
        self.flush_fired = True
        return self.telemetry.request_flush() if self.recorded else None

    def final_flush(self) -> bool:
        """``close`` and wait, blocking, at most the exporter timeout (D3)."""
        future = self.close()
        if future is None:
            return True
        done, _ = wait([future], self.telemetry.exporter_timeout_s)
        return bool(done) and flushed(future)


_telemetry: Optional[Telemetry] = None
_lock = threading.Lock()


def telemetry() -> Telemetry:
    """The process's one ``Telemetry`` (built on first use, so importing this module has no side effect)."""
    global _telemetry
    if _telemetry is None:
        with _lock:
            if _telemetry is None:
                _telemetry = Telemetry()
    return _telemetry
