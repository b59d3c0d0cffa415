"""The garbage collector's setting for a process whose heap only grows: a Pulumi program's, and a policy pack's.

Everything a Pulumi program builds lives until the program ends: each resource, one ``Output`` per property of
its class (four futures, a task and its coroutine each), the records the mocks keep. CPython's generational
collector still scans that whole, ever-growing old generation in every full collection, and finds next to
nothing to free: a 10,000-resource program under the mocks ran 20 full collections that freed 18,787 objects
out of millions and took more than half of its 46 s (21 s with them off; peak RSS 945 -> 950 MB).

The pack's server is the same (``policies/__main__.py`` sets it there for the server's life, as it serves one
preview): ``AnalyzeStack`` turns the whole stack into Python objects that live until the answer is sent; with
full collections its time grew 9.8x for 5.5x the resources (1,800 -> 9,900: 0.39 -> 3.85 s), without 5.4x.

``long_lived()`` keeps the young collections (they free the short-lived cycles a run makes: tracebacks,
temporary closures) and skips the full ones for the duration of a run, then puts the thresholds back: the
runner's process (and a test session) goes on after a run. The runner imports this module, not ``contract``,
before a program runs: a program may have a ``contract`` package of its own.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: A third threshold no run reaches: the oldest generation is never collected on its own while the run lasts.
_NEVER = 2**31 - 1


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)
