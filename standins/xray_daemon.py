"""A stand-in for the X-Ray daemon: a UDP listener on 127.0.0.1 that keeps every document the SDK sends.

The real daemon receives one datagram per (sub)segment: the header ``{"format":"json","version":1}``, a
newline, then the JSON document. This listener parses exactly that and nothing more, so the tests assert on
what the X-Ray SDK really put on the wire. ``address`` is ``host:port``, the form of
``AWS_XRAY_DAEMON_ADDRESS``; set it before ``aws_xray_sdk`` is imported, or reconfigure the emitter.

``wait_for(predicate, timeout)`` hands the predicate the documents received so far (``list[dict]``).
"""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from standins.base import Standin

HEADER = {"format": "json", "version": 1}
MAX_DATAGRAM = 65535
#: How long the listening thread blocks in one receive before it checks whether to stop.
_RECEIVE_TIMEOUT_S = 0.1


@dataclass(frozen=True)
class Received:
    """One datagram: its parsed document and its size on the wire (the 64 KB limit applies to it)."""

    doc: dict
    size: int


class XRayDaemon(Standin[list[dict]]):
    """The UDP listener; the port is bound at construction (``port=0``: a free one)."""

    label = "X-Ray daemon stand-in"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(_RECEIVE_TIMEOUT_S)
        self._documents: list[Received] = []
        self._malformed: list[bytes] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="xray-daemon-standin", daemon=True)

    @property
    def address(self) -> str:
        """``host:port``, as ``AWS_XRAY_DAEMON_ADDRESS`` takes it."""
        host, port = self._sock.getsockname()
        return f"{host}:{port}"

    def _serve(self) -> None:
        self._thread.start()

    def _shutdown(self, was_running: bool) -> None:
        self._stopping.set()
        if was_running:
            self._thread.join(timeout=2)
        self._sock.close()

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                data, _ = self._sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            header, _, body = data.decode("utf-8", errors="replace").partition("\n")
            try:
                if json.loads(header) != HEADER:
                    raise ValueError("bad header")
                doc = json.loads(body)
            except ValueError:
                with self._arrived():
                    self._malformed.append(data)
                continue
            with self._arrived():
                self._documents.append(Received(doc, len(data)))

    # -- what arrived ----------------------------------------------------------------------------------------
    def _received(self) -> list[dict]:
        return [r.doc for r in self._documents]

    def _summary(self, received: list[dict]) -> str:
        return f"{len(received)} documents: {[(d.get('name'), d.get('trace_id')) for d in received][-20:]}"

    @property
    def received(self) -> list[Received]:
        """Every well-formed datagram, in arrival order, with its size."""
        with self._arrival:
            return list(self._documents)

    @property
    def documents(self) -> list[dict]:
        return [r.doc for r in self.received]

    @property
    def malformed(self) -> list[bytes]:
        """Datagrams the real daemon would drop: no valid header line, or a body that is not JSON."""
        with self._arrival:
            return list(self._malformed)

    def for_trace(self, trace_id: str) -> list[dict]:
        return [d for d in self.documents if d.get("trace_id") == trace_id]

    def clear(self) -> None:
        with self._arrival:
            self._documents.clear()
            self._malformed.clear()

    def wait_for_names(self, trace_id: str, names: Iterable[str], timeout: float = 5.0) -> list[dict]:
        """Wait until every name in ``names`` arrived for ``trace_id``; return that trace's documents."""
        wanted = set(names)

        def arrived(docs: list[dict]) -> bool:
            return wanted <= {d.get("name") for d in docs if d.get("trace_id") == trace_id}

        self.wait_for(arrived, timeout, what=f"documents named {sorted(wanted)} in trace {trace_id}")
        return self.for_trace(trace_id)
