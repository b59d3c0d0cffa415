"""The streaming function as its image runs it: the app started with the Dockerfile's own ENV and CMD, from the
tree the Dockerfile's COPYs make, with the function's declared environment; in front of it a Function URL
built from the declared URL (its CORS block) that adds what the Web Adapter adds (the trace header, the
invocation's deadline) and streams the response through.
"""
from __future__ import annotations

import http.client
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

from offline.e2e.runtime import new_trace_header
from standins.image import DOCKERFILE, assemble

SITE_PACKAGES = next(p for p in sys.path if p.endswith("site-packages"))


def dockerfile_env_and_cmd(dockerfile: Path = DOCKERFILE) -> tuple[dict[str, str], list[str]]:
    """The image's ENV and CMD, read from the Dockerfile (the one source of how the app starts)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    cmd: list[str] = []
    for line in text.splitlines():
        words = line.strip()
        if words.startswith("ENV "):
            for token in shlex.split(words[4:]):
                key, _, value = token.partition("=")
                env[key] = value
        elif words.startswith("CMD "):
            cmd = json.loads(words[4:])
    return env, cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamingApp:
    """The app process. ``environment`` is the function's declared environment with endpoint overrides."""

    def __init__(self, workdir: Path, environment: dict[str, str], credentials: dict[str, str], endpoint: str):
        self.workdir, self.port = workdir, _free_port()
        image_env, cmd = dockerfile_env_and_cmd()
        self.cmd = [sys.executable if w == "python" else w for w in cmd]
        self.cmd[self.cmd.index("--port") + 1] = str(self.port)   # the adapter's port, here a free one
        task = assemble(workdir / "image")
        self.env = {**image_env, **environment, "AWS_LWA_PORT": str(self.port), "PATH": "/usr/bin:/bin",
                    "PYTHONPATH": f"{task}{os.pathsep}{SITE_PACKAGES}", "AWS_REGION": "us-east-1",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                    "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
                    "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
                    "AWS_SESSION_TOKEN": credentials["aws_session_token"]}
        self.task = task
        self.process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 30.0) -> StreamingApp:
        self.process = subprocess.Popen(self.cmd, cwd=self.task, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=open(self.workdir / "app.log", "w"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the SSE app exited at start: {(self.workdir / 'app.log').read_text()[-1500:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", self.env.get("AWS_LWA_READINESS_CHECK_PATH", "/health"))
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the SSE app did not become ready on {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class FunctionUrl:
    """A RESPONSE_STREAM Function URL with the declared CORS, forwarding to the app like the Web Adapter."""

    def __init__(self, app_port: int, cors: dict[str, Any], timeout_seconds: float):
        self.app_port, self.cors, self.timeout = app_port, cors or {}, timeout_seconds
        self.requests: list[dict] = []
        url = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_OPTIONS(self) -> None:
                url._preflight(self)

            def do_GET(self) -> None:
                url._forward(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FunctionUrl:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _allowed(self, origin: Optional[str]) -> Optional[str]:
        origins = self.cors.get("allowOrigins") or []
        if origin and ("*" in origins or origin in origins):
            return "*" if "*" in origins else origin
        return None

    def _preflight(self, h: BaseHTTPRequestHandler) -> None:
        allow = self._allowed(h.headers.get("Origin"))
        h.send_response(200)
        if allow:
            h.send_header("Access-Control-Allow-Origin", allow)
            h.send_header("Access-Control-Allow-Methods", ",".join(self.cors.get("allowMethods") or []))
            h.send_header("Access-Control-Allow-Headers", ",".join(self.cors.get("allowHeaders") or []))
            h.send_header("Access-Control-Max-Age", str(int(self.cors.get("maxAge") or 0)))
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        trace = h.headers.get("X-Amzn-Trace-Id") or new_trace_header()
        if "Parent=" not in trace:
            trace += f";Parent={os.urandom(8).hex()}"
        deadline_ms = int((time.time() + self.timeout) * 1000)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "x-amzn-trace-id")}
        headers.update({"x-amzn-trace-id": trace, "x-amzn-lambda-context": json.dumps({"deadline": deadline_ms})})
        self.requests.append({"path": h.path, "trace": trace})
        conn = http.client.HTTPConnection("127.0.0.1", self.app_port, timeout=self.timeout + 5)
        conn.request("GET", h.path, headers=headers)
        resp = conn.getresponse()
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                h.send_header(k, v)
        allow = self._allowed(h.headers.get("Origin"))
        if allow:
            h.send_header("Access-Control-Allow-Origin", allow)
            h.send_header("Access-Control-Expose-Headers", ",".join(self.cors.get("exposeHeaders") or []))
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        # A Function URL notices a client that went away and ends the invocation's response: when the client's
        # socket reaches EOF, the upstream connection is shut so the app sees the disconnect at once.
        threading.Thread(target=_close_when_gone, args=(h.connection, conn), daemon=True).start()
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            conn.close()


def _close_when_gone(client: socket.socket, upstream: http.client.HTTPConnection) -> None:
    try:
        while client.recv(1, socket.MSG_PEEK):
            client.recv(1)
    except OSError:
        pass
    if upstream.sock is not None:
        try:
            upstream.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def read_stream(url: str, origin: Optional[str], until: str, timeout: float) -> tuple[int, dict, list[dict], str]:
    """GET an SSE stream; returns (status, headers, events, trace header) once an event of type ``until``
    arrived, the stream ended, or ``timeout`` passed."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    trace = new_trace_header()
    conn.request("GET", f"{parts.path}?{parts.query}", headers={"Accept": "text/event-stream",
                                                                "X-Amzn-Trace-Id": trace,
                                                                **({"Origin": origin} if origin else {})})
    resp = conn.getresponse()
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = resp.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode().rstrip("\r")
                if not text:
                    if current:
                        events.append(current)
                        if current.get("event") == until:
                            return resp.status, dict(resp.getheaders()), events, trace
                    current = {}
                elif ":" in text and not text.startswith(":"):
                    key, _, value = text.partition(":")
                    current[key] = current.get(key, "") + value.lstrip()
    except TimeoutError:
        pass
    finally:
        conn.close()
    return resp.status, dict(resp.getheaders()), events, trace
