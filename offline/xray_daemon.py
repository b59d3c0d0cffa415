"""A stand-in for the X-Ray daemon: a UDP listener on 127.0.0.1 that keeps every document the SDK sends.

The real daemon receives one datagram per (sub)segment: the header ``{"format":"json","version":1}``, a
newline, then the JSON document. This listener parses exactly that and nothing more, so the tests (and
``python -m offline e2e``) assert on what the X-Ray SDK really put on the wire. Point the SDK at it with
``AWS_XRAY_DAEMON_ADDRESS=<daemon.address>`` before ``aws_xray_sdk`` is imported, or reconfigure the emitter.

Waiting is event-driven: ``wait_for(predicate, timeout)`` returns as soon as the documents received so far
satisfy the predicate and raises ``TimeoutError`` with what did arrive otherwise; there are no fixed sleeps.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

HEADER = {"format": "json", "version": 1}
MAX_DATAGRAM = 65535


@dataclass(frozen=True)
class Received:
    """One datagram: its parsed document and its size on the wire (the 64 KB limit applies to it)."""

    doc: dict
    size: int


class XRayDaemon:
    """UDP listener; use as a context manager or call ``start()``/``close()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.1)
        self._received: list[Received] = []
        self._malformed: list[bytes] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xray-daemon-standin", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()
        return f"{host}:{port}"

    def start(self) -> "XRayDaemon":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> "XRayDaemon":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self._sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except OSError:
                return
            header, _, body = data.decode("utf-8", errors="replace").partition("\n")
            try:
                if json.loads(header) != HEADER:
                    raise ValueError("bad header")
                doc = json.loads(body)
            except ValueError:
                with self._cond:
                    self._malformed.append(data)
                    self._cond.notify_all()
                continue
            with self._cond:
                self._received.append(Received(doc, len(data)))
                self._cond.notify_all()

    # -- queries --------------------------------------------------------------------------------------------
    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    @property
    def documents(self) -> list[dict]:
        return [r.doc for r in self.received]

    @property
    def malformed(self) -> list[bytes]:
        with self._cond:
            return list(self._malformed)

    def for_trace(self, trace_id: str) -> list[dict]:
        return [d for d in self.documents if d.get("trace_id") == trace_id]

    def clear(self) -> None:
        with self._cond:
            self._received.clear()
            self._malformed.clear()

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout: float = 5.0) -> list[dict]:
        """Block until ``predicate(documents)`` is true; return the documents. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                docs = [r.doc for r in self._received]
                if predicate(docs):
                    return docs
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = [(d.get("name"), d.get("trace_id")) for d in docs]
                    raise TimeoutError(f"X-Ray daemon stand-in: condition not met within {timeout}s; received {names}")
                self._cond.wait(remaining)

    def wait_for_names(self, trace_id: str, names: Iterable[str], timeout: float = 5.0) -> list[dict]:
        """Wait until every name in ``names`` arrived for ``trace_id``; return that trace's documents."""
        wanted = set(names)

        def ok(docs: list[dict]) -> bool:
            return wanted <= {d.get("name") for d in docs if d.get("trace_id") == trace_id}

        self.wait_for(ok, timeout)
        return self.for_trace(trace_id)


def find(docs: Iterable[dict], name: str, *, trace_id: Optional[str] = None) -> list[dict]:
    return [d for d in docs if d.get("name") == name and (trace_id is None or d.get("trace_id") == trace_id)]
