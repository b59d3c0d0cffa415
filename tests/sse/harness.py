"""The SSE app as the function runs it: a uvicorn subprocess with an explicit environment (no leak of
this pytest process's env or OTel globals), on a socket the test owns (so a restart keeps the port),
plus a small blocking SSE client over httpx for assertions on the wire."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Optional

import httpx

from contract import env as names
from contract.metrics import sse_function_name
from contract.streaming import otel_environment

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENT = "test"
#: What the image's CMD serves.
APP = "handlers.sse.app:app"
FUNCTION_NAME = sse_function_name(ENVIRONMENT)


def function_environment(moto_endpoint: str, tables: dict[str, str], otlp_endpoint: str, **overrides: str) -> dict:
    """The variables the program gives the function (``contract.streaming.otel_environment`` and the app's
    settings, as ``StreamingTracedLambda`` sets them), the ones Lambda sets itself, and credentials; test
    values only where a test needs them (the collector's endpoint, short intervals)."""
    env = {
        **otel_environment(), names.ENVIRONMENT: ENVIRONMENT,
        names.ITEMS_TABLE: tables[names.ITEMS_TABLE], names.USERS_TABLE: tables[names.USERS_TABLE],
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        names.SSE_MAX_CONNECTIONS: "100", names.SSE_POLL_INTERVAL_SECONDS: "0.2", names.SSE_HEARTBEAT_SECONDS: "0.5",
        # A pool of the form the program sets; ``app_factory`` names the session's moto pool instead.
        names.COGNITO_ISSUER: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_NoPool",
        names.COGNITO_CLIENT_ID: "no-client",
        # Set by Lambda itself:
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef", "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        # Local stand-in for every AWS API (boto3's own endpoint resolution):
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    env.update(overrides)
    return env


class AppProcess:
    """``uvicorn <app>`` on a listening socket created here and passed by fd."""

    def __init__(self, env: dict, app: str = APP):
        self.env = env
        self.app = app
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.set_inheritable(True)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self.log = tempfile.NamedTemporaryFile(prefix="sse-app-", suffix=".log", delete=False)

    def start(self, timeout: float = 30.0) -> AppProcess:
        fd = self.sock.fileno()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", self.app, "--fd", str(fd), "--log-level", "warning",
             "--no-access-log", "--timeout-graceful-shutdown", "3"],
            cwd=REPO, env={**self.env, "PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")},
            pass_fds=[fd], stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        assert self.proc is not None, "start() launches the app"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"SSE app exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"SSE app not ready in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def log_lines(self) -> list[dict]:
        out = []
        for line in self.output().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        self.stop()
        self.sock.close()


# -- X-Ray headers -----------------------------------------------------------------------------------
def new_root() -> str:
    return f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"


def new_parent() -> str:
    return uuid.uuid4().hex[:16]


def trace_header(root: str, parent: str, sampled: Optional[int] = 1) -> str:
    header = f"Root={root};Parent={parent}"
    return header if sampled is None else f"{header};Sampled={sampled}"


# -- items -------------------------------------------------------------------------------------------
def put_item(table, ticker: str, sentiment: str = "positive", **extra) -> dict:
    now = datetime.now(UTC).isoformat()
    item = {"source_id": f"test#{uuid.uuid4().hex[:12]}", "timestamp": now, "sentiment": sentiment,
            "status": "analyzed", "tag": ticker, "tickers": [ticker], "title": f"{ticker} news",
            "analyzed_at": now, **extra}
    table.put_item(Item=item)
    return item


# -- a blocking SSE client ----------------------------------------------------------------------------
@dataclass
class Event:
    event: str = "message"
    data: str = ""
    id: Optional[str] = None
    retry: Optional[int] = None

    @property
    def json(self) -> dict:
        return json.loads(self.data)


@dataclass
class Stream:
    """Reads one SSE response; ``events`` keeps everything read so far."""

    response: httpx.Response
    events: list[Event] = field(default_factory=list)
    ended: bool = False
    ended_at: Optional[float] = None

    def __post_init__(self) -> None:
        self._lines = self.response.iter_lines()

    def _next(self) -> Optional[Event]:
        ev = Event()
        seen_field = False
        data: list[str] = []
        for line in self._lines:
            if line == "":
                if seen_field:
                    ev.data = "\n".join(data)
                    return ev
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            seen_field = True
            if name == "event":
                ev.event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                ev.id = value
            elif name == "retry":
                ev.retry = int(value)
        self.ended = True
        self.ended_at = time.monotonic()
        return None

    def until(self, predicate: Callable[[Event], bool], timeout: float) -> Event:
        """Read until an event satisfies ``predicate``; fail at the deadline (events arrive every
        heartbeat, so the deadline is checked at least that often)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ev = self._next()
            if ev is None:
                raise EOFError(f"stream ended; events so far: {[(e.event, e.id) for e in self.events]}")
            self.events.append(ev)
            if predicate(ev):
                return ev
        raise TimeoutError(f"no matching event within {timeout} s; got {[(e.event, e.id) for e in self.events]}")

    def drain(self, timeout: float) -> list[Event]:
        """Read to the end of the response."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ev = self._next()
            if ev is None:
                return self.events
            self.events.append(ev)
        raise TimeoutError(f"stream did not end within {timeout} s")


class SSE:
    """``with SSE(url, headers) as s:`` opens the stream (status checked by the caller via ``s.response``)."""

    def __init__(self, url: str, headers: Optional[dict] = None, params: Optional[dict] = None, read_timeout: float = 10):
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=read_timeout))
        self._cm = self._client.stream("GET", url, headers=headers or {}, params=params)

    def __enter__(self) -> Stream:
        response = self._cm.__enter__()
        return Stream(response)

    def __exit__(self, *exc) -> None:
        try:
            self._cm.__exit__(*exc)
        finally:
            self._client.close()
