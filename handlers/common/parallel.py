"""Threads whose subsegments nest under the caller's: the recorder's context is thread-local (FR-025, FR-037)."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .tracing import NEVER_SWALLOWED, recorder, tracer

T = TypeVar("T")


def run_parallel(calls: dict[str, Callable[[], T]]) -> dict[str, T | BaseException]:
    """Run callables in threads; subsegments they open nest under the caller's current subsegment.

    Returns each result or the exception it raised (the caller aggregates errors; the pool hands back any
    ``BaseException`` a worker raised, so that is what the type says), except for
    ``NEVER_SWALLOWED`` errors: the first of those is re-raised here, so an instrumentation error in a worker
    fails the invocation instead of becoming a "source failed" business result (FR-018).
    """
    parent = None if tracer.disabled else recorder().get_trace_entity()

    def wrap(fn: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            if parent is not None:
                recorder().set_trace_entity(parent)
            try:
                return fn()
            finally:
                if parent is not None:
                    recorder().clear_trace_entities()
        return run

    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = {key: pool.submit(wrap(fn)) for key, fn in calls.items()}
    out: dict[str, T | BaseException] = {}
    for key, fut in futures.items():
        exc = fut.exception()
        if isinstance(exc, NEVER_SWALLOWED):
            raise exc
        out[key] = exc if exc is not None else fut.result()
    return out
