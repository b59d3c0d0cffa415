"""The process's one service: settings, tracing, the connection pool, the store and the shared feed.

One uvicorn worker serves every stream of a Lambda environment, so these are per process. Built on first
use (the lifespan builds it at startup: fail fast), never at import. Blocking boto3 calls run in a bounded
thread pool through ``run_io``, which keeps the calling task's context (the stream's trace id in its log
lines). The span flush runs on the telemetry's own single flush worker and is awaited, bounded, without a
thread (``until_flushed``): closing streams never take the IO threads live streams poll with (issue 10).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from handlers.sse import metrics
from handlers.sse.feed import ItemFeed
from handlers.sse.log import get_logger
from handlers.sse.pool import ConnectionPool
from handlers.sse.settings import Settings
from handlers.sse.store import Store
from handlers.sse.telemetry import StreamTracer, Telemetry, flushed, telemetry

log = get_logger()
_io = ThreadPoolExecutor(max_workers=16, thread_name_prefix="sse-io")


async def until_flushed(future: Optional[Future[bool]], bound_s: float) -> bool:
    """Wait at most ``bound_s`` for a flush (None: nothing to flush). The flush is shared by every stream
    that asked for it, so it is never cancelled here; ``asyncio.wait`` leaves it running on a timeout."""
    if future is None:
        return True
    done, _ = await asyncio.wait({asyncio.wrap_future(future)}, timeout=bound_s)
    return bool(done) and flushed(future)


async def run_io(fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking work in the IO pool, keeping this task's context (the log lines' trace id)."""
    ctx = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_io, functools.partial(ctx.run, fn, *args))


@dataclass
class Service:
    settings: Settings
    telemetry: Telemetry
    pool: ConnectionPool
    store: Store
    feed: ItemFeed
    started: float = field(default_factory=time.monotonic)
    streams_served: int = 0

    @classmethod
    def from_env(cls) -> Service:
        s = Settings.from_env()
        store = Store(s.items_table, s.users_table)
        return cls(s, telemetry(), ConnectionPool(s.max_connections), store,
                   ItemFeed(store, s.poll_interval_s, run_io))

    def tracer(self, headers: Any) -> StreamTracer:
        """A tracer for one request, its parent taken from that request's X-Ray header (D2)."""
        return StreamTracer(self.telemetry, self.telemetry.extract(dict(headers.items())))

    def metric_buffer(self) -> metrics.MetricBuffer:
        return metrics.MetricBuffer(self.settings.function_name)

    async def send_metrics(self, st: StreamTracer, buffer: metrics.MetricBuffer) -> None:
        if len(buffer):
            # Shielded: a stream is cancelled wherever it waits when its client leaves (issue 10), and cancelling
            # a put still queued in the IO pool dropped the metrics it had drained (a stream whose client left
            # right after its first event lost that poll's PollDurationMs). The put finishes on its own; the
            # stream unwinds at once. put_metrics never raises, so nothing is left unretrieved.
            await asyncio.shield(run_io(metrics.put_metrics, buffer.drain(), st, log))

    async def finish(self, st: StreamTracer, buffer: Optional[metrics.MetricBuffer] = None) -> None:
        """Metrics, then spans, before a response completes (SC-024). Both bounded; neither raises."""
        if buffer is not None:
            await self.send_metrics(st, buffer)
        await until_flushed(st.close(), self.telemetry.exporter_timeout_s)

    def status(self) -> dict[str, Any]:
        """The body of ``/api/v2/stream/status``."""
        return {"connections": self.pool.current, "max_connections": self.pool.max, "available": self.pool.available,
                "poll_interval_seconds": self.settings.poll_interval_s, "heartbeat_seconds": self.settings.heartbeat_s,
                "instance": self.feed.instance, "replay_buffer": len(self.feed.buffer),
                "uptime_seconds": round(time.monotonic() - self.started, 3)}


_service: Optional[Service] = None


def service() -> Service:
    global _service
    if _service is None:
        _service = Service.from_env()
    return _service
