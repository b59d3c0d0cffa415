"""The span flush on one bounded worker: one flush runs, at most one waits, and every request joins it.

Issue 10: a flush per closing stream in a thread of its own (or in the IO pool) grew to 293 threads with a
black-holed collector, and held the IO threads that live streams poll with. The SDK serialises exports
anyway (``force_flush`` takes the batch processor's export lock), so more threads only queue up. Here a
request made while a flush is *waiting to start* joins that flush: it starts after the request, so it
exports the requester's spans too. A request made while a flush *runs* queues the next one (the running
one may have drained the queue before the requester's last span). So whatever the churn, there is one
thread and a queue of at most one flush; a requester waits for its flush's future with its own bound and
holds no thread while it waits.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional


class FlushWorker:
    """``request()`` returns the future of the next flush to start; ``fn`` returns True when all was sent."""

    def __init__(self, fn: Callable[[], bool], name: str = "otel-flush"):
        self._fn = fn
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._waiting: Optional[Future[bool]] = None
        self.started = 0  # flushes run (or running): a bench and a test count them against requests

    def request(self) -> Future[bool]:
        with self._lock:
            if self._waiting is None:
                self._waiting = Future()
                self._executor.submit(self._run, self._waiting)
            return self._waiting

    def _run(self, future: Future[bool]) -> None:
        with self._lock:
            self._waiting = None  # from here on a request needs a later flush
            self.started += 1
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(self._fn())
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter through the future
            future.set_exception(exc)
