"""CloudWatch metrics of the SSE service (FR-042, D7): namespace ``SentimentAnalyzer/SSE``, dimension
``FunctionName``, exactly what the lead's alarms watch.

Metrics are buffered per stream and sent with one ``PutMetricData`` per poll cycle and one at the end, in
a worker thread (boto3 is blocking), each call inside a CloudWatch client span with ``rpc.*`` attributes
(FR-027, FR-067). A failed put marks its span ERROR and is logged; the stream goes on (metrics are not the
business result, and the error is visible in the trace and the logs, never swallowed).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from opentelemetry.trace import SpanKind

from handlers.sse.contract import SSE_NAMESPACE

CONNECTION_COUNT = "ConnectionCount"
EVENT_LATENCY_MS = "EventLatencyMs"
CONNECTION_ACQUIRE_FAILURES = "ConnectionAcquireFailures"
POLL_DURATION_MS = "PollDurationMs"
CONNECTION_SETUP_MS = "ConnectionSetupMs"
UNITS = {CONNECTION_COUNT: "Count", EVENT_LATENCY_MS: "Milliseconds", CONNECTION_ACQUIRE_FAILURES: "Count",
         POLL_DURATION_MS: "Milliseconds", CONNECTION_SETUP_MS: "Milliseconds"}
MAX_DATUMS_PER_CALL = 1000


def function_name() -> str:
    """The ``FunctionName`` dimension: Lambda's own variable; off Lambda, the program's naming rule."""
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if name:
        return name
    return f"{os.environ['ENVIRONMENT']}-sentiment-sse-streaming"


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
    dimension_value: str = field(default_factory=function_name)
    _data: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, value: float) -> None:
        datum = {"MetricName": name, "Value": float(value), "Unit": UNITS[name],
                 "Timestamp": datetime.now(timezone.utc),
                 "Dimensions": [{"Name": "FunctionName", "Value": self.dimension_value}]}
        with self._lock:
            self._data.append(datum)

    def drain(self) -> list[dict]:
        with self._lock:
            data, self._data = self._data, []
        return data

    def __len__(self) -> int:
        return len(self._data)


def put_metrics(data: list[dict], stream_tracer: Optional[Any], logger: Any) -> bool:
    """Send ``data`` (blocking; call from a worker thread). Returns False when the put failed."""
    if not data:
        return True
    ok = True
    for start in range(0, len(data), MAX_DATUMS_PER_CALL):
        chunk = data[start:start + MAX_DATUMS_PER_CALL]
        span_cm = stream_tracer.span("CloudWatch.PutMetricData", kind=SpanKind.CLIENT, **{
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
                                                          "exception_message": str(exc)[:256],
                                                          "metric_count": len(chunk)})
    return ok
