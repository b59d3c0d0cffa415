"""A dependency that never answers: a TCP server on 127.0.0.1 that accepts every connection and sends nothing.

The worst case of a remote call is not a refusal (that fails at once) but a peer that accepted the connection
and then went silent: only the client's own timeouts end the wait. No side effects at import, so the canary
tests use it too.
"""
from __future__ import annotations

import socket
import threading
import time


class BlackHole:
    """Accepts connections on a free loopback port and holds them open, unanswered, until ``close()``."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="black-hole", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()
        return f"http://{host}:{port}"

    @property
    def connections(self) -> int:
        """How many connections it swallowed (each attempt of a client opens one)."""
        return len(self._held)

    def saw_connection(self, within: float = 5.0) -> bool:
        """Whether a client connected, waiting up to ``within`` s for this side to count it: the kernel completes a
        client's connect before the accept thread takes it, so a client that gave up at once can be back before it
        is counted (seen once with two test suites sharing the machine's 2 cores)."""
        deadline = time.monotonic() + within
        while not self._held and time.monotonic() < deadline:
            time.sleep(0.02)
        return bool(self._held)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:  # the listener was shut down: close() is running
                return
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
