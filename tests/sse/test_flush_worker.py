"""Issue 10 ("the flush on close never holds a thread per stream"): ``flush.FlushWorker`` in process.

A collector that never answers is a flush that blocks; here the flush function blocks on an event the test
sets, so the worker's bound is observed exactly, without a network or a clock.
"""
from __future__ import annotations

import threading
from concurrent.futures import wait

from handlers.sse.flush import FlushWorker

REQUESTERS = 200


def test_issue10_concurrent_flush_requests_share_one_thread_and_at_most_one_waiting_flush():
    """200 streams closing while a flush is stuck: one worker thread, one flush waiting; every requester joins
    it, and each gets its result once the collector answers."""
    release = threading.Event()
    calls: list[int] = []

    def stuck_flush() -> bool:
        calls.append(1)
        release.wait(30)
        return True

    worker = FlushWorker(stuck_flush, name="test-flush")
    first = worker.request()
    while not calls:  # the first flush is running (and stuck) before the crowd arrives
        threading.Event().wait(0.01)
    # The worker's own threads: the process-wide count also moves with threads other tests left ending.
    def flush_threads() -> int:
        return sum(t.name.startswith("test-flush") for t in threading.enumerate())

    before = flush_threads()
    futures = []
    crowd = [threading.Thread(target=lambda: futures.append(worker.request())) for _ in range(REQUESTERS)]
    for t in crowd:
        t.start()
    for t in crowd:
        t.join(10)
    assert len(futures) == REQUESTERS and len({id(f) for f in futures}) == 1  # one waiting flush, shared
    assert futures[0] is not first and worker.started == 1
    assert flush_threads() == before == 1  # the crowd added no flush thread
    release.set()
    done, _ = wait([first, *futures], 10)
    assert len(done) == 2 and all(f.result() for f in done)
    assert worker.started == 2 and len(calls) == 2
    names = [t.name for t in threading.enumerate() if t.name.startswith("test-flush")]
    assert len(names) == 1, names


def test_issue10_a_failed_flush_reaches_its_waiters_as_an_exception_not_a_dead_worker():
    attempts: list[int] = []

    def flaky() -> bool:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("collector gone")
        return True

    worker = FlushWorker(flaky, name="test-flaky")
    first = worker.request()
    assert isinstance(first.exception(10), ConnectionError)
    assert worker.request().result(10) is True
