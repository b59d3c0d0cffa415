"""The SSE streaming service: a Starlette app served by uvicorn behind the Lambda Web Adapter (D1).

Endpoints: ``GET /health`` (the adapter's readiness check), ``GET /api/v2/stream/status``,
``GET /api/v2/stream`` (filters ``tickers``, ``resolutions``) and ``GET /api/v2/configurations/{id}/stream``
(``Authorization: Bearer <user id>``; the configuration's tickers become the filter).

A stream sends ``retry: 3000`` first (FR-088), a ``connected`` event, then ``sentiment`` events with ids
from the instance's feed (replayable from ``Last-Event-ID``, FR-081) and a ``heartbeat`` every
``SSE_HEARTBEAT_SECONDS``; every event's data carries the X-Ray trace id (FR-115). When less than 3 s of the
invocation remain it flushes, then sends ``event: deadline`` and ends (FR-093/100). Whatever ends it (the
deadline, the client going away, an error), the ``finally`` of ``SSEStream.__call__`` releases the slot,
records ``connection_release``, sends the metrics and flushes the spans *before* the response completes,
i.e. before Lambda may freeze the environment (FR-055, SC-024).

Tracing is OpenTelemetry only (D2); see ``telemetry.py``. The app starts from exactly the environment the
program gives the function and reads it at startup (fail fast on a missing table name).

Kill switch (FR-108): set ``OTEL_SDK_DISABLED=true`` on the function and the app streams exactly as
before (same events, ids, ``trace_id`` in the data, metrics) but records and exports no span, and it
starts even when the OTel settings are broken; a WARNING line at startup says tracing is off. Unset it
(or set anything but ``true``) to trace again. See ``telemetry.py``.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.sse import metrics as m
from handlers.sse.contract import RESOLUTIONS
from handlers.sse.feed import SENTIMENTS, ItemFeed, FeedEvent
from handlers.sse.log import current_trace_id, get_logger
from handlers.sse.telemetry import StreamTracer, Telemetry, is_xray_trace_id, telemetry

RETRY_MS = 3000
DEADLINE_MARGIN_S = 3.0
RETRY_AFTER_S = 30
_TICKER = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,9}")
_SESSION = re.compile(r"[A-Za-z0-9_\-]{8,64}")
_CONFIG_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_TICKERS = 20

log = get_logger()


# -- settings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    items_table: str
    users_table: str
    max_connections: int
    poll_interval_s: float
    heartbeat_s: float

    @classmethod
    def from_env(cls) -> "Settings":
        missing = [k for k in ("ITEMS_TABLE", "USERS_TABLE") if not os.environ.get(k)]
        if missing:
            raise RuntimeError(f"missing environment variable(s) {missing}: the program sets them on the function")
        s = cls(items_table=os.environ["ITEMS_TABLE"], users_table=os.environ["USERS_TABLE"],
                max_connections=int(os.environ.get("SSE_MAX_CONNECTIONS", "100")),
                poll_interval_s=float(os.environ.get("SSE_POLL_INTERVAL_SECONDS", "5")),
                heartbeat_s=float(os.environ.get("SSE_HEARTBEAT_SECONDS", "30")))
        if s.max_connections < 1 or s.poll_interval_s <= 0 or s.heartbeat_s <= 0:
            raise RuntimeError(f"invalid SSE settings {s}")
        return s


class ConnectionPool:
    """At most ``max_connections`` streams per instance (the event loop is single-threaded: no lock)."""

    def __init__(self, max_connections: int):
        self.max = max_connections
        self.current = 0
        self._ids = 0

    def try_acquire(self) -> Optional[str]:
        if self.current >= self.max:
            return None
        self.current += 1
        self._ids += 1
        return f"c{self._ids}-{uuid.uuid4().hex[:8]}"

    def release(self) -> None:
        self.current = max(0, self.current - 1)


_io = ThreadPoolExecutor(max_workers=16, thread_name_prefix="sse-io")


async def run_io(fn, *args):
    """Run blocking work (boto3, the span flush) in the IO pool, keeping this task's context (log trace id)."""
    ctx = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_io, functools.partial(ctx.run, fn, *args))


# -- request parsing ----------------------------------------------------------------------------------
class BadRequest(ValueError):
    pass


def _csv(value: Optional[str]) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_tickers(value: Optional[str]) -> frozenset[str]:
    tickers = [t.upper() for t in _csv(value)]
    bad = [t for t in tickers if not _TICKER.fullmatch(t)]
    if bad or len(tickers) > MAX_TICKERS:
        raise BadRequest(f"tickers: at most {MAX_TICKERS} symbols like AAPL or BRK.B")
    return frozenset(tickers)


def parse_resolutions(value: Optional[str]) -> tuple[str, ...]:
    resolutions = _csv(value)
    bad = [r for r in resolutions if r not in RESOLUTIONS]
    if bad:
        raise BadRequest(f"resolutions: unknown {bad}; choose from {list(RESOLUTIONS)}")
    return tuple(dict.fromkeys(resolutions))


@dataclass(frozen=True)
class Reconnect:
    """FR-048: a stable ``session_id`` per logical stream; a reconnect names the trace it follows."""

    session_id: str
    previous_trace_id: Optional[str]
    connection_sequence: Optional[int]

    @classmethod
    def from_query(cls, q) -> "Reconnect":
        session = q.get("session_id") or uuid.uuid4().hex
        if not _SESSION.fullmatch(session):
            raise BadRequest("session_id: 8-64 characters [A-Za-z0-9_-]")
        previous = q.get("previous_trace_id") or None
        if previous is not None and not is_xray_trace_id(previous):
            raise BadRequest("previous_trace_id: an X-Ray trace id 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx")
        seq_raw = q.get("connection_sequence")
        seq = None
        if seq_raw is not None:
            if not seq_raw.isdigit() or not 1 <= int(seq_raw) <= 1_000_000:
                raise BadRequest("connection_sequence: an integer from 1")
            seq = int(seq_raw)
        return cls(session, previous, seq)


def deadline_epoch_ms(request: Request) -> Optional[float]:
    """The invocation deadline: the Web Adapter's ``x-amzn-lambda-context`` header (its ``deadline``, ms
    since the epoch), else ``_LAMBDA_DEADLINE_MS`` when a bootstrap sets it. None off Lambda."""
    raw = request.headers.get("x-amzn-lambda-context")
    if raw:
        try:
            value = json.loads(raw).get("deadline")
            if value:
                return float(value)
        except (ValueError, AttributeError):
            log.warning("unreadable x-amzn-lambda-context header")
    env = os.environ.get("_LAMBDA_DEADLINE_MS")
    return float(env) if env else None


def bucket_start(ts: datetime, resolution: str) -> str:
    unit = resolution[-1]
    n = int(resolution[:-1])
    seconds = n * (60 if unit == "m" else 3600)
    epoch = int(ts.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _parse_ts(value: Any) -> Optional[datetime]:
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def item_tickers(item: dict) -> set[str]:
    out = set()
    for key in ("tickers", "ticker", "tag"):
        value = item.get(key)
        if isinstance(value, str):
            out.add(value.upper())
        elif isinstance(value, (list, tuple)):
            out.update(str(v).upper() for v in value)
    return out


def frame(event: Optional[str] = None, data: Any = None, event_id: Optional[str] = None,
          retry: Optional[int] = None) -> bytes:
    lines = []
    if retry is not None:
        lines.append(f"retry: {retry}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    if data is not None:
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), default=str)
        lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


# -- the service --------------------------------------------------------------------------------------
@dataclass
class Service:
    settings: Settings
    telemetry: Telemetry
    pool: ConnectionPool
    feed: ItemFeed
    started: float = field(default_factory=time.monotonic)
    streams_served: int = 0

    @classmethod
    def from_env(cls) -> "Service":
        s = Settings.from_env()
        return cls(s, telemetry(), ConnectionPool(s.max_connections), ItemFeed(s.items_table, s.poll_interval_s, run_io))


_service: Optional[Service] = None


def service() -> Service:
    global _service
    if _service is None:
        _service = Service.from_env()
    return _service


async def finish(st: StreamTracer, buffer: Optional[m.MetricBuffer] = None) -> None:
    """Metrics then spans, before a response completes (SC-024). Both bounded; neither raises."""
    if buffer is not None and len(buffer):
        await run_io(m.put_metrics, buffer.drain(), st, log)
    await run_io(st.final_flush)


def _headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items()}


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def stream_status(request: Request) -> Response:
    svc = service()
    st = StreamTracer(svc.telemetry, svc.telemetry.extract(_headers(request)))
    with st.span("stream_status", kind=SpanKind.SERVER) as span:
        span.annotate(connection_count=svc.pool.current, max_connections=svc.pool.max)
        body = {"connections": svc.pool.current, "max_connections": svc.pool.max,
                "available": svc.pool.max - svc.pool.current, "poll_interval_seconds": svc.settings.poll_interval_s,
                "heartbeat_seconds": svc.settings.heartbeat_s, "instance": svc.feed.instance,
                "replay_buffer": len(svc.feed.buffer), "uptime_seconds": round(time.monotonic() - svc.started, 3)}
    await finish(st)
    return JSONResponse(body, headers={"x-amzn-trace-id": f"Root={st.trace_id}"})


async def global_stream(request: Request) -> Response:
    return await _open_stream(request, stream_type="global", tickers_param=request.query_params.get("tickers"))


async def config_stream(request: Request) -> Response:
    svc = service()
    config_id = request.path_params["config_id"]
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not _SESSION.fullmatch(token.strip()):
        return JSONResponse({"error": "a bearer token is required"}, status_code=401,
                            headers={"www-authenticate": "Bearer"})
    if not _CONFIG_ID.fullmatch(config_id):
        return JSONResponse({"error": "invalid configuration id"}, status_code=400)
    st = StreamTracer(svc.telemetry, svc.telemetry.extract(_headers(request)))
    config = await run_io(_load_config, st, svc.settings.users_table, token.strip(), config_id)
    if config is None:
        await finish(st)
        return JSONResponse({"error": "configuration not found"}, status_code=404)
    tickers = ",".join(str(t) for t in (config.get("tickers") or []))
    return await _open_stream(request, stream_type="config", tickers_param=tickers, st=st)


def _load_config(st: StreamTracer, table: str, user_id: str, config_id: str) -> Optional[dict]:
    import boto3

    from handlers.sse.aws import client_config

    with st.span("DynamoDB.GetItem", kind=SpanKind.CLIENT, **{
            "db.system": "dynamodb", "db.operation": "GetItem", "rpc.system": "aws-api", "rpc.service": "DynamoDB",
            "rpc.method": "GetItem", "aws.dynamodb.table_names": [table]}) as span:
        response = boto3.resource("dynamodb", config=client_config()).Table(table).get_item(
            Key={"PK": f"USER#{user_id}", "SK": f"CONFIG#{config_id}"})
        span.set(**{"aws.request_id": response.get("ResponseMetadata", {}).get("RequestId")})
        return response.get("Item")


async def _open_stream(request: Request, stream_type: str, tickers_param: Optional[str],
                       st: Optional[StreamTracer] = None) -> Response:
    received = time.monotonic()
    svc = service()
    try:
        tickers = parse_tickers(tickers_param)
        resolutions = parse_resolutions(request.query_params.get("resolutions"))
        reconnect = Reconnect.from_query(request.query_params)
    except BadRequest as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    st = st or StreamTracer(svc.telemetry, svc.telemetry.extract(_headers(request)))
    buffer = m.MetricBuffer()
    connection_id = svc.pool.try_acquire()
    with st.span("connection_acquire", **{"sse.stream_type": stream_type}) as span:
        current_trace_id.set(st.trace_id)
        span.annotate(current_count=svc.pool.current, max_connections=svc.pool.max,
                      session_id=reconnect.session_id)
        if reconnect.previous_trace_id:
            span.annotate(previous_trace_id=reconnect.previous_trace_id)
        if reconnect.connection_sequence is not None:
            span.annotate(connection_sequence=reconnect.connection_sequence)
        if connection_id is None:
            span.fail(PoolExhausted(f"{svc.pool.current}/{svc.pool.max} connections in use"))
        else:
            span.annotate(connection_id=connection_id)
    if connection_id is None:
        buffer.add(m.CONNECTION_ACQUIRE_FAILURES, 1)
        log.warning("connection refused: pool full", extra={"current_count": svc.pool.current,
                                                            "max_connections": svc.pool.max})
        await finish(st, buffer)
        return JSONResponse({"error": "too many connections"}, status_code=503,
                            headers={"retry-after": str(RETRY_AFTER_S)})
    buffer.add(m.CONNECTION_COUNT, svc.pool.current)
    last_seq, trigger = svc.feed.resume_position(request.headers.get("last-event-id"))
    cold = svc.streams_served == 0
    svc.streams_served += 1
    log.info("stream opened", extra={"connection_id": connection_id, "stream_type": stream_type,
                                     "session_id": reconnect.session_id, "trigger": trigger})
    return SSEStream(svc=svc, st=st, buffer=buffer, connection_id=connection_id, stream_type=stream_type,
                     tickers=tickers, resolutions=resolutions, reconnect=reconnect, last_seq=last_seq,
                     trigger=trigger, is_cold_start=cold, received=received,
                     deadline_ms=deadline_epoch_ms(request))


class PoolExhausted(RuntimeError):
    pass


@dataclass
class SSEStream:
    """The streaming response; its ``finally`` is the stream's single exit (release, metrics, flush)."""

    svc: Service
    st: StreamTracer
    buffer: m.MetricBuffer
    connection_id: str
    stream_type: str
    tickers: frozenset
    resolutions: tuple
    reconnect: Reconnect
    last_seq: int
    trigger: str
    is_cold_start: bool
    received: float
    deadline_ms: Optional[float]
    close_reason: str = "server"
    events_sent: int = 0

    def _remaining_s(self) -> Optional[float]:
        return None if self.deadline_ms is None else self.deadline_ms / 1000.0 - time.time()

    async def __call__(self, scope, receive, send) -> None:
        current_trace_id.set(self.st.trace_id)
        disconnected = asyncio.Event()

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    return

        watcher = asyncio.create_task(watch())
        deadline_event = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"), (b"x-amzn-trace-id", f"Root={self.st.trace_id}".encode())]})
            await self._write(send, frame(retry=RETRY_MS) + frame("connected", {
                "connection_id": self.connection_id, "session_id": self.reconnect.session_id,
                "trace_id": self.st.trace_id, "connection_sequence": self.reconnect.connection_sequence,
                "previous_trace_id": self.reconnect.previous_trace_id, "instance": self.svc.feed.instance,
                "resume": self.trigger}))
            self.buffer.add(m.CONNECTION_SETUP_MS, (time.monotonic() - self.received) * 1000)
            interval = self.svc.settings.poll_interval_s
            next_poll = time.monotonic()
            next_beat = time.monotonic() + self.svc.settings.heartbeat_s
            if self.trigger == "replay":
                await self._dispatch(send, self.svc.feed.events_after(self.last_seq))
            while True:
                remaining = self._remaining_s()
                if remaining is not None and remaining < DEADLINE_MARGIN_S:
                    self.close_reason = "deadline"
                    deadline_event = remaining
                    break
                now = time.monotonic()
                if now >= next_poll:
                    await self._poll_and_dispatch(send)
                    next_poll = time.monotonic() + interval
                    if len(self.buffer):
                        await run_io(m.put_metrics, self.buffer.drain(), self.st, log)
                if time.monotonic() >= next_beat:
                    await self._heartbeat(send)
                    next_beat = time.monotonic() + self.svc.settings.heartbeat_s
                wait = min(next_poll, next_beat) - time.monotonic()
                remaining = self._remaining_s()
                if remaining is not None:
                    wait = min(wait, remaining - DEADLINE_MARGIN_S)
                try:
                    await asyncio.wait_for(disconnected.wait(), timeout=max(0.0, wait))
                except asyncio.TimeoutError:
                    pass
                if disconnected.is_set():
                    self.close_reason = "client_disconnect"
                    break
        except asyncio.CancelledError:
            self.close_reason = "cancelled"
            raise
        except Exception as exc:  # recorded on a span, logged, and the stream ends (never silently)
            self.close_reason = "error"
            with self.st.span("sse_stream_error") as span:
                span.fail(exc)
            log.exception("stream failed", extra={"connection_id": self.connection_id})
        finally:
            watcher.cancel()
            await self._close(send, deadline_event, disconnected.is_set())

    async def _close(self, send, deadline_remaining: Optional[float], client_gone: bool) -> None:
        self.svc.pool.release()
        with self.st.span("connection_release") as span:
            span.annotate(connection_id=self.connection_id, current_count=self.svc.pool.current,
                          close_reason=self.close_reason)
            span.set(**{"client.disconnected": client_gone, "sse.events_sent": self.events_sent})
        self.buffer.add(m.CONNECTION_COUNT, self.svc.pool.current)
        # D3/FR-093: metrics and spans leave before the client sees the end (or the deadline event).
        await finish(self.st, self.buffer)
        log.info("stream closed", extra={"connection_id": self.connection_id, "close_reason": self.close_reason,
                                         "events_sent": self.events_sent})
        if not client_gone:
            if deadline_remaining is not None:
                remaining_ms = max(0, int((self._remaining_s() or 0) * 1000))
                await send({"type": "http.response.body", "more_body": True, "body": frame("deadline", {
                    "reason": "timeout_imminent", "remaining_ms": remaining_ms, "trace_id": self.st.trace_id})})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _write(self, send, data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})

    async def _poll_and_dispatch(self, send) -> None:
        feed = self.svc.feed
        with self.st.span("dynamodb_poll") as span:
            result = await feed.poll(self.st, span.context)
            events = self._matching(feed.events_after(self.last_seq))
            self.last_seq = feed.head_seq
            span.annotate(item_count=result.item_count, changed_count=len(events),
                          poll_duration_ms=round(result.duration_ms, 3), sentiment_type=",".join(SENTIMENTS),
                          cache_hit=result.cache_hit, cache_hit_rate=feed.hit_rate,
                          cache_entry_count=len(feed.buffer), cache_max_entries=feed.buffer.maxlen,
                          trigger=self.trigger)
            self.trigger = "poll"
        if not result.cache_hit:
            self.buffer.add(m.POLL_DURATION_MS, result.duration_ms)
        await self._dispatch(send, events, filtered=True)

    def _matching(self, events: list[FeedEvent]) -> list[FeedEvent]:
        if not self.tickers:
            return events
        return [e for e in events if item_tickers(e.item) & self.tickers]

    async def _dispatch(self, send, events: list[FeedEvent], filtered: bool = False) -> None:
        if not filtered:
            events = self._matching(events)
            if events:
                self.last_seq = max(self.last_seq, events[-1].seq)
        for event in events:
            item = event.item
            ts = _parse_ts(item.get("analyzed_at") or item.get("updated_at") or item.get("timestamp"))
            latency_ms = (time.time() - ts.timestamp()) * 1000 if ts else 0.0
            skew = latency_ms < 0
            latency_ms = max(0.0, latency_ms)
            item_ts = _parse_ts(item.get("timestamp"))
            data = {"source_id": item.get("source_id"), "timestamp": item.get("timestamp"),
                    "sentiment": item.get("sentiment"), "score": item.get("score"),
                    "tickers": sorted(item_tickers(item)), "title": str(item.get("title", ""))[:300] or None,
                    "trace_id": self.st.trace_id, "latency_ms": round(latency_ms, 1)}
            if self.resolutions and item_ts:
                data["buckets"] = {r: bucket_start(item_ts, r) for r in self.resolutions}
            with self.st.span("sse_event_dispatch") as span:
                span.annotate(event_type="sentiment", latency_ms=round(latency_ms, 1), is_cold_start=self.is_cold_start,
                              is_clock_skew=skew, connection_count=self.svc.pool.current)
                await self._write(send, frame("sentiment", data, event_id=event.event_id))
            self.events_sent += 1
            self.buffer.add(m.EVENT_LATENCY_MS, latency_ms)

    async def _heartbeat(self, send) -> None:
        with self.st.span("sse_event_dispatch") as span:
            span.annotate(event_type="heartbeat", latency_ms=0.0, is_cold_start=self.is_cold_start,
                          is_clock_skew=False, connection_count=self.svc.pool.current)
            await self._write(send, frame("heartbeat", {"trace_id": self.st.trace_id,
                                                        "connections": self.svc.pool.current,
                                                        "timestamp": datetime.now(timezone.utc).isoformat()}))


@contextlib.asynccontextmanager
async def lifespan(_app):
    svc = service()  # fail fast: a missing table name or a bad OTel setting stops the app before readiness
    raw = os.environ.get("OTEL_SDK_DISABLED", "").strip()
    if not svc.telemetry.enabled:
        log.warning("OTEL_SDK_DISABLED=true: tracing is off, no span is recorded or exported (FR-108 kill switch)",
                    extra={"otel_sdk_disabled": True})
    elif raw and raw.lower() != "false":
        log.warning("OTEL_SDK_DISABLED=%r is not 'true': tracing stays ON (the SDK reads only 'true')", raw)
    # Build the boto3 clients now (INIT is not billed against a stream's setup latency); no call is made.
    svc.feed._client()
    m.cloudwatch_client()
    yield
    # Process exit (SIGTERM from Lambda's SHUTDOWN, or Ctrl-C): one last bounded flush.
    await run_io(service().telemetry.flush)


app = Starlette(routes=[
    Route("/health", health),
    Route("/api/v2/stream/status", stream_status),
    Route("/api/v2/stream", global_stream),
    Route("/api/v2/configurations/{config_id}/stream", config_stream),
], lifespan=lifespan)
