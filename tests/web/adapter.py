"""A stand-in for the Lambda Web Adapter in front of the SSE app, for the browser's close classes (FR-118).

Like the adapter, it forwards each request to the app and adds ``x-amzn-lambda-context`` with the
invocation's deadline, so the app's own deadline logic ends the stream with ``event: deadline`` (the
sentinel). It can also end a stream's body early without that event (what a browser sees as an
``abnormal`` close). Each stream request (``GET /api/v2/stream``) takes the next entry of ``script``;
anything else (preflight, status) is forwarded untouched. Runs in a thread of the test process; the app
stays in its uvicorn subprocess.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import httpx

from contract.streaming import LAMBDA_CONTEXT_HEADER

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "trailer", "upgrade"}


@dataclass
class Step:
    """What the adapter does with one stream request: give it ``deadline_s`` of invocation time (None: no
    deadline, as off Lambda), and/or end the body right after the chunk that completes ``cut_after``."""

    deadline_s: Optional[float] = None
    cut_after: Optional[bytes] = None


@dataclass
class Connection:
    path: str
    headers: dict
    started: float
    ended: Optional[float] = None
    how: str = "open"          # "complete" (the app ended it), "cut" (ended here), "client" (browser left)
    body: bytes = b""


@dataclass
class AdapterStandIn:
    upstream: str
    script: list[Step] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)

    def __post_init__(self) -> None:
        adapter = self
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes: a clean EOF

            def log_message(self, *args):
                pass

            def do_OPTIONS(self):
                adapter._forward(self, "OPTIONS")

            def do_GET(self):
                adapter._forward(self, "GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="lwa-standin", daemon=True).start()

    def streams(self) -> list[Connection]:
        with self._lock:
            return [c for c in self.connections if c.path.startswith("/api/v2/stream?")]

    def _forward(self, h: BaseHTTPRequestHandler, method: str) -> None:
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        is_stream = method == "GET" and h.path.startswith("/api/v2/stream?")
        step = Step()
        conn = Connection(h.path, {k.lower(): v for k, v in headers.items()}, time.monotonic())
        if is_stream:
            with self._lock:
                step = self.script.pop(0) if self.script else Step()
                self.connections.append(conn)
            if step.deadline_s is not None:
                headers[LAMBDA_CONTEXT_HEADER] = json.dumps({
                    "request_id": str(uuid.uuid4()), "deadline": int((time.time() + step.deadline_s) * 1000)})
        try:
            with self._client.stream(method, self.upstream + h.path, headers=headers) as upstream:
                h.send_response(upstream.status_code)
                for k, v in upstream.headers.multi_items():
                    if k.lower() not in HOP_BY_HOP:
                        h.send_header(k, v)
                h.send_header("Connection", "close")
                h.end_headers()
                for chunk in upstream.iter_raw():
                    h.wfile.write(chunk)
                    h.wfile.flush()
                    conn.body += chunk
                    if step.cut_after is not None and step.cut_after in conn.body:  # also when split over chunks
                        conn.how = "cut"
                        break
                else:
                    conn.how = "complete"
        except (BrokenPipeError, ConnectionResetError):
            conn.how = "client"
        finally:
            conn.ended = time.monotonic()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
