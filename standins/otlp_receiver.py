"""An OTLP/HTTP trace receiver on 127.0.0.1 standing in for the ADOT collector extension.

It decodes exactly what the collector would receive (``POST /v1/traces``, ``application/x-protobuf``,
optionally gzip) into plain dataclasses, so tests assert on the wire, not on SDK internals. ``address`` (and
``endpoint``, the same URL under the name of ``OTEL_EXPORTER_OTLP_ENDPOINT``) is ``http://127.0.0.1:<port>``.

    with OtlpReceiver() as rx:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = rx.address
        ...
        spans = rx.wait_for(lambda spans: any(s.name == "connection_release" for s in spans), timeout=5)

For the "collector is dead" cases: ``dead_endpoint()`` (nothing listens: connection refused) and
``Blackhole`` (the TCP handshake completes in the kernel's backlog, but nothing ever answers).
"""
from __future__ import annotations

import gzip
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from standins.base import HttpRequest, HttpResponse, HttpStandin

STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}
TRACES_PATH = "/v1/traces"


def _any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return bytes(v.bytes_value)
    return getattr(v, kind)


def _attrs(kvs) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str          # 32 hex
    span_id: str           # 16 hex
    parent_span_id: str    # 16 hex or ""
    kind: int
    status: str            # UNSET / OK / ERROR
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    resource: dict[str, Any]
    start_ns: int
    end_ns: int
    received_at: float = field(default_factory=time.monotonic)

    @property
    def xray_trace_id(self) -> str:
        return f"1-{self.trace_id[:8]}-{self.trace_id[8:]}"

    @property
    def annotations(self) -> dict[str, Any]:
        """The attributes the awsxray exporter indexes as annotations (``aws.xray.annotations``)."""
        keys = self.attributes.get("aws.xray.annotations") or []
        return {k: self.attributes.get(k) for k in keys}


def _spans(req: ExportTraceServiceRequest, now: float) -> list[ReceivedSpan]:
    batch = []
    for rs in req.resource_spans:
        resource = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                batch.append(ReceivedSpan(
                    name=s.name, trace_id=s.trace_id.hex(), span_id=s.span_id.hex(),
                    parent_span_id=s.parent_span_id.hex(), kind=s.kind,
                    status=STATUS_NAMES.get(s.status.code, str(s.status.code)),
                    attributes=_attrs(s.attributes),
                    events=[{"name": e.name, "attributes": _attrs(e.attributes)} for e in s.events],
                    resource=resource, start_ns=s.start_time_unix_nano, end_ns=s.end_time_unix_nano,
                    received_at=now))
    return batch


class OtlpReceiver(HttpStandin[list[ReceivedSpan]]):
    """Every span received, in arrival order; ``wait_for`` hands the predicate ``list[ReceivedSpan]``."""

    label = "OTLP receiver stand-in"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, status: int = 200):
        self.status = status  # the answer to every export; 503 makes the exporter retry
        self.posts = 0
        self._spans: list[ReceivedSpan] = []
        super().__init__(host, port)

    @property
    def endpoint(self) -> str:
        """``address`` under the name of the variable it is set into, ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        return self.address

    def respond(self, request: HttpRequest) -> HttpResponse:
        body = gzip.decompress(request.body) if request.headers.get("content-encoding") == "gzip" else request.body
        status = self.status
        if status == 200 and request.method == "POST" and request.path.rstrip("/").endswith(TRACES_PATH):
            batch = _spans(ExportTraceServiceRequest.FromString(body), time.monotonic())
            with self._arrived():
                self.posts += 1
                self._spans.extend(batch)
        elif status == 200:
            status = 404
        out = ExportTraceServiceResponse().SerializeToString() if status == 200 else b""
        return HttpResponse(status, out, "application/x-protobuf")

    def _received(self) -> list[ReceivedSpan]:
        return list(self._spans)

    def _summary(self, received: list[ReceivedSpan]) -> str:
        return f"{len(received)} spans, the last: {[(s.name, s.xray_trace_id) for s in received[-20:]]}"

    def snapshot(self) -> list[ReceivedSpan]:
        with self._arrival:
            return list(self._spans)

    def for_trace(self, xray_trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.snapshot() if s.xray_trace_id == xray_trace_id]

    def clear(self) -> None:
        with self._arrival:
            self._spans.clear()
            self.posts = 0


def dead_endpoint() -> str:
    """An endpoint where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class Blackhole:
    """A listening socket that never accepts: connects succeed, requests are never answered.

    Not a stand-in of the common shape: it receives nothing (that is the point), so there is nothing to wait
    for; it listens from construction until ``close()``.
    """

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
