"""An OTLP/HTTP trace receiver on 127.0.0.1 standing in for the ADOT collector extension.

It decodes exactly what the collector would receive (``POST /v1/traces``, ``application/x-protobuf``,
optionally gzip) into plain dicts, so tests assert on the wire, not on SDK internals. Failure modes for
the "collector is dead" cases: ``dead_endpoint()`` (nothing listens: connection refused) and
``Blackhole`` (the TCP handshake completes in the kernel's backlog, but nothing ever answers).

    with OtlpReceiver() as rx:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = rx.endpoint
        ...
        spans = rx.wait_for(lambda spans: any(s.name == "connection_release" for s in spans), timeout=5)
"""
from __future__ import annotations

import gzip
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                       ExportTraceServiceResponse)

STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}


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


class OtlpReceiver:
    """A threaded OTLP/HTTP receiver; ``spans`` holds everything received, in arrival order."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, status: int = 200):
        self.status = status  # answer code; 503 makes the exporter retry
        self.posts = 0
        self.spans: list[ReceivedSpan] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                code = receiver.status
                if code == 200 and self.path.rstrip("/").endswith("/v1/traces"):
                    receiver._ingest(ExportTraceServiceRequest.FromString(body))
                elif code == 200:
                    code = 404
                out = ExportTraceServiceResponse().SerializeToString() if code == 200 else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "OtlpReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "OtlpReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _ingest(self, req: ExportTraceServiceRequest) -> None:
        now = time.monotonic()
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
        with self._cond:
            self.posts += 1
            self.spans.extend(batch)
            self._cond.notify_all()

    def snapshot(self) -> list[ReceivedSpan]:
        with self._cond:
            return list(self.spans)

    def for_trace(self, xray_trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.snapshot() if s.xray_trace_id == xray_trace_id]

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float) -> list[ReceivedSpan]:
        """Wait until ``predicate(all spans so far)`` holds; raise TimeoutError with what arrived."""
        end = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self.spans)):
                left = end - time.monotonic()
                if left <= 0:
                    names = [(s.name, s.xray_trace_id) for s in self.spans[-20:]]
                    raise TimeoutError(f"OTLP receiver: condition not met within {timeout} s; last spans {names}")
                self._cond.wait(left)
            return list(self.spans)

    def clear(self) -> None:
        with self._cond:
            self.spans.clear()
            self.posts = 0


def dead_endpoint() -> str:
    """An endpoint where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class Blackhole:
    """A listening socket that never accepts: connects succeed, requests are never answered."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Blackhole":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main() -> None:  # python -m offline.otlp_receiver : print spans as they arrive (local demo)
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    rx = OtlpReceiver(port=args.port).start()
    print(f"OTLP/HTTP receiver on {rx.endpoint}/v1/traces", flush=True)
    seen = 0
    try:
        while True:
            spans = rx.wait_for(lambda s: len(s) > seen, timeout=3600)
            for s in spans[seen:]:
                print(f"{s.xray_trace_id} {s.name:<24} parent={s.parent_span_id or '-':<16} {s.status} "
                      f"{s.annotations}", flush=True)
            seen = len(spans)
    except KeyboardInterrupt:
        rx.stop()


if __name__ == "__main__":
    main()
