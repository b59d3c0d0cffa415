"""The canary's checks, as plain functions over boto3 clients (US6, US9, US11).

Both checks are two-phase so that no run waits out X-Ray's or CloudWatch's ingestion delay (5-30 s for
traces, 60-120 s for metrics): each run submits this run's probes and verifies the previous run's, whose
ids and timestamp are kept in SSM (FR-096). Alarms fire only after consecutive misses (2 of 2 periods).
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Optional

from contract.metrics import CANARY_PROBE
from contract.naming import service_name

#: The synthetic segments' service name: the canary's own, so the service map shows them on its node.
SERVICE_NAME = service_name("canary")
#: BatchGetTraces takes at most this many trace ids per call.
BATCH_GET_TRACES_MAX_IDS = 5


@dataclass
class CanaryState:
    """What one run leaves for the next (stored as JSON in the SSM parameter)."""

    trace_ids: list[str] = field(default_factory=list)
    probe_timestamp: Optional[float] = None
    run: int = 0

    @classmethod
    def parse(cls, raw: str) -> CanaryState:
        data = json.loads(raw or "{}")
        return cls(trace_ids=list(data.get("trace_ids", [])), probe_timestamp=data.get("probe_timestamp"),
                   run=int(data.get("run", 0)))

    def dumps(self) -> str:
        return json.dumps(asdict(self))


def new_trace_id(now: float) -> str:
    """An X-Ray trace id: version, epoch seconds in hex, 96 random bits."""
    return f"1-{int(now):08x}-{secrets.token_hex(12)}"


def synthetic_segment(trace_id: str, run: int, now: float) -> dict:
    """A complete segment marked ``synthetic`` so the production group excludes it (FR-185)."""
    return {"trace_id": trace_id, "id": secrets.token_hex(8), "name": SERVICE_NAME, "start_time": now,
            "end_time": now + 0.001, "annotations": {"synthetic": True, "canary_run": run}}


def submit_traces(xray, count: int, run: int, now: Optional[float] = None) -> tuple[list[str], int]:
    """Put ``count`` synthetic traces in ONE PutTraceSegments call (D11: X-Ray's quota counts segments per
    second, 2,600 per Region, so one call of at most 50 segments stays far below it).
    Returns the accepted trace ids and how many documents X-Ray refused."""
    now = time.time() if now is None else now
    segments = [synthetic_segment(new_trace_id(now), run, now) for _ in range(count)]
    resp = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(s) for s in segments])
    refused = {u.get("Id") for u in resp.get("UnprocessedTraceSegments", [])}
    return [s["trace_id"] for s in segments if s["id"] not in refused], len(refused)


def is_partial(trace: dict) -> bool:
    """A trace read back incomplete: cut at X-Ray's size limit (``LimitExceeded``) or holding a segment that never
    ended (``in_progress`` or no ``end_time``). BatchGetTraces' ``Trace`` has no ``IsPartial`` field (that is
    GetTraceSummaries'), so the segments themselves are read (docs/aws-facts.md Q-11)."""
    if trace.get("LimitExceeded"):
        return True
    for segment in trace.get("Segments", []):
        try:
            doc = json.loads(segment.get("Document") or "{}")
        except ValueError:
            return True
        if doc.get("in_progress") or "end_time" not in doc:
            return True
    return False


def count_retrieved(xray, trace_ids: list[str]) -> tuple[int, int, int]:
    """How many of ``trace_ids`` X-Ray returns, how many of those are partial (FR-087), and how many X-Ray left
    unprocessed even on a second ask. BatchGetTraces is paginated (``NextToken``, followed by botocore's
    paginator) and may answer ``UnprocessedTraceIds`` (docs/aws-facts.md Q-11); an id X-Ray does not know is
    answered that way too, so after one more ask the rest count as not retrieved, and are reported apart."""
    found: set[str] = set()
    partial = 0
    paginator = xray.get_paginator("batch_get_traces")

    def read(ids: list[str]) -> list[str]:
        nonlocal partial
        unprocessed: list[str] = []
        for i in range(0, len(ids), BATCH_GET_TRACES_MAX_IDS):
            for page in paginator.paginate(TraceIds=ids[i:i + BATCH_GET_TRACES_MAX_IDS]):
                for trace in page.get("Traces", []):
                    if trace.get("Segments") and trace["Id"] not in found:
                        found.add(trace["Id"])
                        partial += is_partial(trace)
                unprocessed += page.get("UnprocessedTraceIds", [])
        return [t for t in dict.fromkeys(unprocessed) if t not in found]

    left = read(trace_ids)
    if left:
        left = read(left)
    return len(found), partial, len(left)


def put_probe(cloudwatch, namespace: str, dimensions: list[dict], now: float) -> None:
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": CANARY_PROBE, "Dimensions": dimensions, "Value": 1.0, "Unit": "Count",
        "Timestamp": datetime.fromtimestamp(now, UTC)}])


def probe_visible(cloudwatch, namespace: str, dimensions: list[dict], probe_timestamp: float) -> bool:
    """FR-049: the previous run's probe must be readable back; if not, CloudWatch lost it."""
    at = datetime.fromtimestamp(probe_timestamp, UTC)
    resp = cloudwatch.get_metric_statistics(Namespace=namespace, MetricName=CANARY_PROBE, Dimensions=dimensions,
                                            StartTime=at - timedelta(minutes=2), EndTime=at + timedelta(minutes=2),
                                            Period=60, Statistics=["SampleCount"])
    return any(p.get("SampleCount", 0) > 0 for p in resp.get("Datapoints", []))
