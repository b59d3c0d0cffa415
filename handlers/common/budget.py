"""The time an invocation has left, and every remote call's timeouts and retries derived from it.

A Lambda that is still waiting on a socket when its timeout strikes is killed: its result, its last trace
documents, its metrics and its log lines are lost, and the caller sees only a timeout. So no remote call may
start unless its worst case (every attempt timing out, plus the backoff between them) ends before the
invocation's deadline, which keeps ``RESPONSE_MARGIN_S`` free for the response itself.

* ``begin`` (called by ``handler_boundary`` for every invocation) fixes the deadline from
  ``context.get_remaining_time_in_millis()``, optionally capped (API Gateway answers the browser after 29 s
  whatever the function's timeout).
* ``policy()`` picks, from ``POLICIES``, the most generous connect/read timeouts and attempt count whose worst
  case still fits in the time left; ``common.aws`` builds its boto3 clients from it.
* ``check_attempt`` runs before every single attempt a client sends: an attempt (a retry included) that
  could not finish before the deadline is refused with ``DeadlineExceeded`` instead of being started.
* ``http_timeout`` is the same rule for the HTTP clients botocore does not see (news APIs, SendGrid).
* ``phase(share)`` gives a part of the invocation a share of the time left for all its calls, keeping the rest
  for what follows; ``deadline_in(share)`` does the same for HTTP requests only (``http_timeout(until=...)``).

Outside an invocation (tests, tools) there is no deadline and the most generous policy applies.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

from botocore.config import Config
from botocore.exceptions import BotoCoreError

#: Seconds kept free at the end of every invocation for the return, the last trace documents and log lines.
RESPONSE_MARGIN_S = 0.5
#: Below this many seconds an HTTP request is not started: it could not even connect and read a status line.
MIN_HTTP_TIMEOUT_S = 0.2


class DeadlineExceeded(BotoCoreError):
    """A remote call (or one more attempt of it) was refused because it could not finish before the deadline.

    A ``BotoCoreError``, so every caller that handles an AWS call failing (silent-failure paths, the metric
    fallback, error counters) handles it the same way: it *is* a dependency failure, seen early.
    """

    fmt = "{what}: {left:.2f} s left before the deadline, one attempt needs up to {needed:.2f} s"


@dataclass(frozen=True)
class AttemptPolicy:
    """Connect and read timeouts of one attempt, and how many attempts a call may make."""

    connect_s: float
    read_s: float
    attempts: int

    @property
    def per_attempt_s(self) -> float:
        return self.connect_s + self.read_s

    @property
    def worst_case_s(self) -> float:
        """Every attempt times out. botocore's standard retry mode sleeps at most 2**(i-1) s before retry i
        (throttling errors; others sleep far less), so the retries add at most 2**(attempts-1) - 1 s."""
        return self.attempts * self.per_attempt_s + (2 ** (self.attempts - 1) - 1)

    def config(self, region: Optional[str] = None) -> Config:
        return Config(connect_timeout=self.connect_s, read_timeout=self.read_s, region_name=region,
                      retries={"mode": "standard", "total_max_attempts": self.attempts})


#: From the most generous down; a call gets the first whose worst case fits in the time left. The first one's
#: 24 s fit inside API Gateway's 29 s, so the dashboard keeps its retries when it has its full time.
POLICIES: tuple[AttemptPolicy, ...] = (
    AttemptPolicy(connect_s=2.0, read_s=5.0, attempts=3),    # 24 s
    AttemptPolicy(connect_s=1.0, read_s=3.0, attempts=2),    # 9 s
    AttemptPolicy(connect_s=0.5, read_s=1.5, attempts=2),    # 5 s
    AttemptPolicy(connect_s=0.5, read_s=1.5, attempts=1),    # 2 s
    AttemptPolicy(connect_s=0.25, read_s=0.5, attempts=1),   # 0.75 s
)

_lock = threading.Lock()
_deadline: Optional[float] = None  # time.monotonic() value; one invocation at a time per process


def begin(context: Any, cap_s: Optional[float] = None) -> None:
    """Fix this invocation's deadline from the Lambda context (``cap_s`` bounds it further)."""
    remaining_s = context.get_remaining_time_in_millis() / 1000
    if cap_s is not None:
        remaining_s = min(remaining_s, cap_s)
    with _lock:
        global _deadline
        _deadline = time.monotonic() + remaining_s - RESPONSE_MARGIN_S


def finish() -> None:
    """The invocation is over: calls made outside one are not bounded by its deadline."""
    with _lock:
        global _deadline
        _deadline = None


def time_left() -> Optional[float]:
    """Seconds until the deadline (negative once passed), or None outside an invocation."""
    return None if _deadline is None else _deadline - time.monotonic()


@contextmanager
def phase(share: float) -> Iterator[None]:
    """Within the block, the deadline is ``share`` of the time left: a phase that must leave the rest to what
    follows (ingestion's fetch leaves time to store and report, the canary's checks to send their report).
    Worker threads see it too (one invocation at a time per process)."""
    global _deadline
    with _lock:
        outer = _deadline
        if outer is not None:
            _deadline = time.monotonic() + max(0.0, outer - time.monotonic()) * share
    try:
        yield
    finally:
        with _lock:
            _deadline = outer


def policy(what: str = "AWS call") -> AttemptPolicy:
    """The most generous attempt policy whose worst case fits in the time left."""
    left = time_left()
    if left is None:
        return POLICIES[0]
    for candidate in POLICIES:
        if candidate.worst_case_s <= left:
            return candidate
    raise DeadlineExceeded(what=what, left=left, needed=POLICIES[-1].worst_case_s)


def check_attempt(what: str, needed_s: float) -> None:
    """Refuse an attempt that could take ``needed_s`` when less than that is left."""
    left = time_left()
    if left is not None and left < needed_s:
        raise DeadlineExceeded(what=what, left=left, needed=needed_s)


def deadline_in(share: float) -> Optional[float]:
    """The ``time.monotonic()`` value by which a phase given ``share`` of the time left must be done (for
    ``http_timeout(until=...)``), or None outside an invocation."""
    left = time_left()
    return None if left is None else time.monotonic() + max(0.0, left) * share


def http_timeout(what: str, default_s: float, *, until: Optional[float] = None) -> float:
    """The socket timeout for one HTTP request (urllib applies it to the connect and to each read).

    ``default_s``, cut so that a connect and a read that both time out end before the deadline (or before
    ``until``, from ``deadline_in``): half the time left. ``DeadlineExceeded`` when that is too little to try.
    """
    left = time_left()
    if until is not None:
        phase_left = until - time.monotonic()
        left = phase_left if left is None else min(left, phase_left)
    if left is None:
        return default_s
    if left / 2 < MIN_HTTP_TIMEOUT_S:
        raise DeadlineExceeded(what=what, left=left, needed=2 * MIN_HTTP_TIMEOUT_S)
    return min(default_s, left / 2)
