"""One stream, from its slot to its last byte: the response object the stream routes return.

Its ``__call__`` is the whole life of a stream, and the only place a slot is taken and given back:

1. **acquire**: take a slot (``connection_acquire`` span). None left: count ConnectionAcquireFailures,
   flush, answer 503 with ``Retry-After`` (FR-042) and stop;
2. **open**: the 200 headers, ``retry: 3000`` (FR-088), the ``connected`` event, and what a known
   ``Last-Event-ID`` missed (FR-081);
3. **stream**: poll the feed every ``SSE_POLL_INTERVAL_SECONDS`` and send what matches, a ``heartbeat`` every
   ``SSE_HEARTBEAT_SECONDS``, until the client goes away (which cancels this step wherever it waits, so the
   slot is back within a loop turn: issue 10) or fewer than 3 s of the invocation remain;
4. **close** (in ``finally``, whatever ended the stream: the deadline, the client, an error, cancellation):
   release the slot (before any flush: a slot never waits for the collector), record ``connection_release``,
   send the metrics and flush the spans, and only then send ``event: deadline`` (FR-093/100) and end the
   response, i.e. before Lambda may freeze the environment (FR-055, SC-024).

The request was parsed before this object exists (``request.StreamRequest``), so nothing the client sent
can fail a stream once it holds a slot.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Optional, TypeVar

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from contract import metrics as metric_names
from contract import streaming
from contract.data import SENTIMENTS
from handlers.sse import events, metrics, wire
from handlers.sse.feed import FeedEvent
from handlers.sse.log import current_trace_id, get_logger
from handlers.sse.pool import PoolExhausted, Slot
from handlers.sse.request import StreamRequest
from handlers.sse.service import Service
from handlers.sse.telemetry import StreamTracer

#: FR-093: when fewer seconds than this remain of the invocation, the stream flushes and ends.
DEADLINE_MARGIN_S = streaming.DEADLINE_MARGIN_S
#: FR-042: a refused client is told to come back after this many seconds.
RETRY_AFTER_S = 30

log = get_logger()

T = TypeVar("T")


@dataclass
class SSEStream:
    svc: Service
    st: StreamTracer
    request: StreamRequest
    stream_type: str   # "global" or "config"
    received: float    # time.monotonic() when the request arrived (ConnectionSetupMs)

    def __post_init__(self) -> None:
        self.buffer = self.svc.metric_buffer()
        self.connection_id = ""
        self.close_reason = "server"
        self.events_sent = 0
        self.last_seq = 0
        self.trigger = "connect"
        self.is_cold_start = False
        self._next_beat = 0.0  # time.monotonic() when the next heartbeat is due (set when streaming starts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        current_trace_id.set(self.st.trace_id)
        at_deadline = client_gone = False
        slot = self.svc.pool.try_acquire()
        if slot is None:
            await self._refuse(scope, receive, send)
            return
        try:  # from here on, the finally gives the slot back whatever happens
            self._acquired(slot)
            at_deadline, client_gone = await self._serve(receive, send)
        except asyncio.CancelledError:
            self.close_reason = "cancelled"
            raise
        except Exception as exc:  # recorded on a span, logged, and the stream ends (never silently)
            self.close_reason = "error"
            with self.st.span("sse_stream_error") as span:
                span.fail(exc)
            log.exception("stream failed", extra={"connection_id": slot.connection_id})
        finally:
            slot.release()
            await self._close(send, slot, at_deadline, client_gone)

    async def _serve(self, receive: Receive, send: Send) -> tuple[bool, bool]:
        """Steps 2 and 3 in a task raced against the client's disconnect: ``(at_deadline, client_gone)``.

        Issue 10: the client leaving cancels the stream wherever it waits (a poll, a metrics put, a send),
        so the slot comes back within a loop turn of the disconnect instead of after that call returns.
        """
        body = asyncio.create_task(self._open_and_stream(send))
        watcher = asyncio.create_task(self._watch(receive))
        try:
            await asyncio.wait({body, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this task itself is cancelled
            watcher.cancel()
            if not body.done():
                body.cancel()
        if watcher.done() and not watcher.cancelled():
            watcher.result()  # a failed receive is the stream's error
            self.close_reason = "client_disconnect"
            await asyncio.gather(body, return_exceptions=True)  # let the body unwind from where it was cancelled
            return False, True
        return body.result(), False

    async def _open_and_stream(self, send: Send) -> bool:
        await self._open(send)
        return await self._stream(send)

    # -- 1. acquire -----------------------------------------------------------------------------------
    def _record_acquire(self, slot: Optional[Slot]) -> None:
        pool, reconnect = self.svc.pool, self.request.reconnect
        with self.st.span("connection_acquire", attributes={"sse.stream_type": self.stream_type}) as span:
            current_trace_id.set(self.st.trace_id)
            span.annotate(current_count=pool.current, max_connections=pool.max, session_id=reconnect.session_id)
            if reconnect.previous_trace_id:
                span.annotate(previous_trace_id=reconnect.previous_trace_id)
            if reconnect.connection_sequence is not None:
                span.annotate(connection_sequence=reconnect.connection_sequence)
            if slot is None:
                span.fail(PoolExhausted(f"{pool.current}/{pool.max} connections in use"))
            else:
                span.annotate(connection_id=slot.connection_id)
        metrics.record_linkage(self.st, self.buffer, log)  # after the first span: the log line has the new root

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._record_acquire(None)
        self.buffer.add(metric_names.CONNECTION_ACQUIRE_FAILURES, 1)
        log.warning("connection refused: pool full", extra={"current_count": self.svc.pool.current,
                                                            "max_connections": self.svc.pool.max})
        await self.svc.finish(self.st, self.buffer)
        await JSONResponse({"error": "too many connections"}, status_code=503,
                           headers={"retry-after": str(RETRY_AFTER_S)})(scope, receive, send)

    def _acquired(self, slot: Slot) -> None:
        self._record_acquire(slot)
        self.buffer.add(metric_names.CONNECTION_COUNT, self.svc.pool.current)
        self.last_seq, self.trigger = self.svc.feed.resume_position(self.request.last_event_id)
        self.is_cold_start = self.svc.streams_served == 0
        self.svc.streams_served += 1
        log.info("stream opened", extra={"connection_id": slot.connection_id, "stream_type": self.stream_type,
                                         "session_id": self.request.reconnect.session_id, "trigger": self.trigger})
        self.connection_id = slot.connection_id

    # -- 2. open --------------------------------------------------------------------------------------
    async def _open(self, send: Send) -> None:
        reconnect = self.request.reconnect
        await send(wire.response_start(self.st.trace_id))
        await send(wire.body(wire.frame(retry=wire.RETRY_MS) + wire.frame("connected", events.connected(
            self.connection_id, reconnect.session_id, self.st.trace_id, reconnect.connection_sequence,
            reconnect.previous_trace_id, self.svc.feed.instance, self.trigger))))
        self.buffer.add(metric_names.CONNECTION_SETUP_MS, (time.monotonic() - self.received) * 1000)
        if self.trigger == "replay":
            await self._dispatch(send, self._matching(self.svc.feed.events_after(self.last_seq)))

    # -- 3. stream ------------------------------------------------------------------------------------
    async def _stream(self, send: Send) -> bool:
        """Until the deadline is near (True); the client leaving cancels it (``_serve``)."""
        settings = self.svc.settings
        next_poll = time.monotonic()
        self._next_beat = time.monotonic() + settings.heartbeat_s
        while True:
            remaining = self._remaining_s()
            if remaining is not None and remaining < DEADLINE_MARGIN_S:
                self.close_reason = "deadline"
                return True
            if time.monotonic() >= next_poll:
                await self._poll(send)
                next_poll = time.monotonic() + settings.poll_interval_s
                await self._while_beating(send, self.svc.send_metrics(self.st, self.buffer))
            if time.monotonic() >= self._next_beat:
                await self._beat(send)
            wait = min(next_poll, self._next_beat) - time.monotonic()
            remaining = self._remaining_s()
            if remaining is not None:
                wait = min(wait, remaining - DEADLINE_MARGIN_S)
            await asyncio.sleep(max(0.0, wait))

    @staticmethod
    async def _watch(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    def _remaining_s(self) -> Optional[float]:
        deadline_ms = self.request.deadline_ms
        return None if deadline_ms is None else deadline_ms / 1000.0 - time.time()

    async def _poll(self, send: Send) -> None:
        feed = self.svc.feed
        with self.st.span("dynamodb_poll") as span:
            result = await self._while_beating(send, feed.poll(self.st, span.context))
            matching = self._matching(feed.events_after(self.last_seq))
            self.last_seq = feed.head_seq
            span.annotate(item_count=result.item_count, changed_count=len(matching),
                          poll_duration_ms=round(result.duration_ms, 3), sentiment_type=",".join(SENTIMENTS),
                          cache_hit=result.cache_hit, cache_hit_rate=feed.hit_rate,
                          cache_entry_count=len(feed.buffer), cache_max_entries=feed.buffer.maxlen or 0,
                          trigger=self.trigger)
            self.trigger = "poll"
        if not result.cache_hit:
            self.buffer.add(metric_names.POLL_DURATION_MS, result.duration_ms)
        await self._dispatch(send, matching)

    def _matching(self, candidates: list[FeedEvent]) -> list[FeedEvent]:
        tickers = self.request.tickers
        return [e for e in candidates if not tickers or events.item_tickers(e.item) & tickers]

    async def _dispatch(self, send: Send, matching: list[FeedEvent]) -> None:
        if matching:
            self.last_seq = max(self.last_seq, matching[-1].seq)
        for event in matching:
            sentiment = events.sentiment(event.item, self.st.trace_id, self.request.resolutions)
            with self.st.span("sse_event_dispatch") as span:
                span.annotate(event_type="sentiment", latency_ms=round(sentiment.latency_ms, 1),
                              is_cold_start=self.is_cold_start, is_clock_skew=sentiment.clock_skew,
                              connection_count=self.svc.pool.current)
                await send(wire.body(wire.frame("sentiment", sentiment.data, event_id=event.event_id)))
            self.events_sent += 1
            self.buffer.add(metric_names.EVENT_LATENCY_MS, sentiment.latency_ms)

    async def _while_beating(self, send: Send, work: Awaitable[T]) -> T:
        """``work`` (a poll, a metrics put: IO on the shared pool), sending the heartbeats that fall due meanwhile.
        Under load the pool queues the work of every stream, and a stream that waited for its own turn sent no
        heartbeat for seconds (4.9 s under 20 churning clients and a CPU-bound neighbour): a proxy or a browser
        can take that for a dead stream. Only this task sends; the work itself does not."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=max(0.0, self._next_beat - time.monotonic()))
                if done:
                    return task.result()
                await self._beat(send)
        finally:
            if not task.done():
                task.cancel()  # the stream was cancelled (the client left) while it waited

    async def _beat(self, send: Send) -> None:
        await self._heartbeat(send)
        self._next_beat = time.monotonic() + self.svc.settings.heartbeat_s

    async def _heartbeat(self, send: Send) -> None:
        with self.st.span("sse_event_dispatch") as span:
            span.annotate(event_type="heartbeat", latency_ms=0.0, is_cold_start=self.is_cold_start,
                          is_clock_skew=False, connection_count=self.svc.pool.current)
            await send(wire.body(wire.frame("heartbeat", events.heartbeat(self.st.trace_id, self.svc.pool.current))))

    # -- 4. close -------------------------------------------------------------------------------------
    async def _close(self, send: Send, slot: Slot, at_deadline: bool, client_gone: bool) -> None:
        """After the slot is released: the release span, metrics and spans out, then the end of the body."""
        with self.st.span("connection_release") as span:
            span.annotate(connection_id=slot.connection_id, current_count=self.svc.pool.current,
                          close_reason=self.close_reason)
            span.set(**{"client.disconnected": client_gone, "sse.events_sent": self.events_sent})
        self.buffer.add(metric_names.CONNECTION_COUNT, self.svc.pool.current)
        # D3/FR-093: metrics and spans leave before the client sees the end (or the deadline event).
        await self.svc.finish(self.st, self.buffer)
        log.info("stream closed", extra={"connection_id": slot.connection_id, "close_reason": self.close_reason,
                                         "events_sent": self.events_sent})
        if client_gone:
            return
        if at_deadline:
            remaining_ms = max(0, int((self._remaining_s() or 0) * 1000))
            await send(wire.body(wire.frame("deadline", events.deadline(remaining_ms, self.st.trace_id))))
        await send(wire.body(b"", more=False))
