"""The instance's connection cap: at most ``SSE_MAX_CONNECTIONS`` streams at once (FR-042).

A stream holds a ``Slot`` from ``try_acquire`` until its end; ``Slot.release`` gives it back once however
often it is called, so a second release on some error path can never free another stream's place. The
event loop is single-threaded, so the count needs no lock.
"""
from __future__ import annotations

import uuid
from typing import Optional


class PoolExhausted(RuntimeError):
    """Recorded on the refused stream's ``connection_acquire`` span (it is never raised to the client)."""


class Slot:
    """One stream's place in the pool, named by its connection id."""

    def __init__(self, pool: ConnectionPool, connection_id: str):
        self._pool = pool
        self.connection_id = connection_id
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._pool.current -= 1


class ConnectionPool:
    def __init__(self, max_connections: int):
        self.max = max_connections
        self.current = 0
        self._ids = 0

    @property
    def available(self) -> int:
        return self.max - self.current

    def try_acquire(self) -> Optional[Slot]:
        """A slot, or None when all ``max`` are taken (the caller answers 503)."""
        if self.current >= self.max:
            return None
        self.current += 1
        self._ids += 1
        return Slot(self, f"c{self._ids}-{uuid.uuid4().hex[:8]}")
