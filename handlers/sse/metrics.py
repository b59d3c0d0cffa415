"""CloudWatch metrics of the SSE service (FR-042, D7): the SSE namespace, metric names, units and the
``FunctionName`` dimension of ``contract.metrics``, exactly what the alarms watch.

Metrics are buffered per stream and sent with one ``PutMetricData`` per poll cycle and one at the end, in
a worker thread (boto3 is blocking), each call inside a CloudWatch client span with ``rpc.*`` attributes
(FR-027, FR-067). A failed put marks its span ERROR and is logged; the stream goes on (metrics are not the
business result, and the error is visible in the trace and the logs, never swallowed).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Optional

from opentelemetry.trace import SpanKind

from contract.metrics import FUNCTION_DIMENSION, SSE_NAMESPACE, SSE_UNITS, UNLINKED_REQUESTS
from contract.xray import TRACE_HEADER
from handlers.sse.telemetry import StreamTracer

#: PutMetricData takes at most this many data per call.
MAX_DATUMS_PER_CALL = 1000
#: A failed put's exception message is logged cut to this many characters.
MAX_LOGGED_MESSAGE = 256


_client_lock = threading.Lock()
_client: Any = None


def cloudwatch_client():
    """One boto3 client per process (thread-safe for calls); endpoint from ``AWS_ENDPOINT_URL``."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                import boto3

                from handlers.sse.aws import client_config

                _client = boto3.client("cloudwatch", config=client_config())
    return _client


@dataclass
class MetricBuffer:
    """One stream's data, waiting for the next put. ``function_name`` is the dimension's value (settings)."""

    function_name: str
    _data: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, value: float) -> None:
        datum = {"MetricName": name, "Value": float(value), "Unit": SSE_UNITS[name],
                 "Timestamp": datetime.now(UTC),
                 "Dimensions": [{"Name": FUNCTION_DIMENSION, "Value": self.function_name}]}
        with self._lock:
            self._data.append(datum)

    def drain(self) -> list[dict]:
        with self._lock:
            data, self._data = self._data, []
        return data

    def __len__(self) -> int:
        return len(self._data)


def record_linkage(stream_tracer: StreamTracer, buffer: MetricBuffer, logger: Any) -> bool:
    """Issue 9: a request with neither an ``x-amzn-trace-id`` header nor ``_X_AMZN_TRACE_ID`` (or only an
    unparseable one) gets a new root trace, unlinked from the invocation's. Say so: one warning and one
    ``UnlinkedRequests`` datum. Returns whether the request was linked."""
    if stream_tracer.has_remote_parent:
        return True
    buffer.add(UNLINKED_REQUESTS, 1)
    logger.warning(f"request carried no usable X-Ray context ({TRACE_HEADER} header or _X_AMZN_TRACE_ID): its "
                   "spans start a new trace, unlinked from the invocation's", extra={"unlinked_trace": True})
    return False


def put_metrics(data: list[dict], stream_tracer: Optional[StreamTracer], logger: Any) -> bool:
    """Send ``data`` (blocking; call from a worker thread). Returns False when the put failed."""
    if not data:
        return True
    ok = True
    for start in range(0, len(data), MAX_DATUMS_PER_CALL):
        chunk = data[start:start + MAX_DATUMS_PER_CALL]
        span_cm = stream_tracer.span("CloudWatch.PutMetricData", kind=SpanKind.CLIENT, attributes={
            "rpc.system": "aws-api", "rpc.service": "CloudWatch", "rpc.method": "PutMetricData",
            "aws.cloudwatch.namespace": SSE_NAMESPACE, "aws.cloudwatch.datum_count": len(chunk)}) \
            if stream_tracer is not None else None
        try:
            if span_cm is None:
                cloudwatch_client().put_metric_data(Namespace=SSE_NAMESPACE, MetricData=chunk)
                continue
            with span_cm as handle:
                response = cloudwatch_client().put_metric_data(Namespace=SSE_NAMESPACE, MetricData=chunk)
                handle.set(**{"aws.request_id": response.get("ResponseMetadata", {}).get("RequestId")})
        except Exception as exc:  # noqa: BLE001 - recorded on the span above and logged here
            ok = False
            logger.warning("PutMetricData failed", extra={"exception_type": type(exc).__name__,
                                                          "exception_message": str(exc)[:MAX_LOGGED_MESSAGE],
                                                          "metric_count": len(chunk)})
    return ok
