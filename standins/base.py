"""The one shape every stand-in has, so tests, benchmarks and the local demo drive them all alike.

    with XRayDaemon() as daemon:                       # start() on entry, stop() on exit
        os.environ["AWS_XRAY_DAEMON_ADDRESS"] = daemon.address
        ...
        docs = daemon.wait_for(lambda docs: len(docs) >= 2, timeout=5)

- ``start()`` starts serving and returns the stand-in; starting a running stand-in does nothing.
- ``address`` is what a client is pointed at. Each stand-in documents its form: ``host:port`` where the
  variable it goes into wants that (the X-Ray daemon), a base URL ``http://127.0.0.1:<port>`` for the HTTP
  ones. It is known from construction, except for the moto server (known once started).
- ``stop()`` stops serving and frees the port; stopping twice, or before ``start()``, does nothing. A
  stopped stand-in is not restarted: its port may belong to someone else by then; make a new one.
- ``wait_for(predicate, timeout)`` returns what the stand-in received as soon as ``predicate(received)``
  holds, re-checked on every arrival (no fixed sleeps), and otherwise raises ``TimeoutError`` saying which
  stand-in waited, for what, and what did arrive.
"""
from __future__ import annotations

import ast
import inspect
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Optional, TypeVar
from urllib.parse import parse_qs, urlsplit

R = TypeVar("R")  # what a stand-in received, as wait_for hands it to the predicate
S = TypeVar("S", bound="Standin")

#: How much of a predicate's source or of the received data a timeout message quotes.
_QUOTE_LIMIT = 300


def describe(predicate: Callable[..., Any]) -> str:
    """A predicate in words for an error message: its docstring's first line, else its source, else its name."""
    doc = inspect.getdoc(predicate)
    if doc:
        return doc.splitlines()[0]
    name = getattr(predicate, "__qualname__", repr(predicate))
    if "<lambda>" not in name:
        return name
    try:
        source = " ".join(inspect.getsource(predicate).split())
    except (OSError, TypeError):
        return "a condition (a lambda)"
    text = source[source.find("lambda"):][:_QUOTE_LIMIT] if "lambda" in source else ""
    for end in range(len(text), 0, -1):  # the longest prefix that is the lambda alone, not its call's rest
        try:
            if isinstance(ast.parse(text[:end], mode="eval").body, ast.Lambda):
                return f"`{text[:end]}`"
        except SyntaxError:
            continue
    return "a condition (a lambda)"


class Standin(ABC, Generic[R]):
    """A local server standing in for a service; see the module docstring for the shape.

    A subclass implements ``_serve`` and ``_shutdown`` (each called once), ``address``, and ``_received``
    (what ``wait_for`` hands the predicate, read under the arrival lock), and records each arrival inside
    ``with self._arrived():`` so waiters re-check.
    """

    #: How the stand-in names itself in errors.
    label: str = "stand-in"
    #: For stand-ins that cannot signal arrivals (moto keeps its state to itself): ``wait_for`` re-checks
    #: the predicate this often, in seconds. ``None``: every arrival signals.
    recheck_seconds: ClassVar[Optional[float]] = None

    def __init__(self) -> None:
        self._arrival = threading.Condition()
        self._lifecycle = threading.Lock()
        self._state = "new"  # new -> running -> stopped

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self: S) -> S:
        with self._lifecycle:
            if self._state == "stopped":
                raise RuntimeError(f"{self.label} was stopped; a stopped stand-in is not restarted, make a new one")
            if self._state == "new":
                self._serve()
                self._state = "running"
        return self

    def stop(self) -> None:
        with self._lifecycle:
            if self._state == "stopped":
                return
            was_running, self._state = self._state == "running", "stopped"
            self._shutdown(was_running)

    @property
    def running(self) -> bool:
        return self._state == "running"

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    @abstractmethod
    def address(self) -> str:
        """Where clients are pointed; each stand-in documents the form."""

    @abstractmethod
    def _serve(self) -> None:
        """Start serving (once)."""

    @abstractmethod
    def _shutdown(self, was_running: bool) -> None:
        """Stop serving, if it was, and free the port (once)."""

    # -- waiting on what arrived ------------------------------------------------------------------------------
    @abstractmethod
    def _received(self) -> R:
        """What ``wait_for`` hands the predicate and returns; called with the arrival lock held."""

    def _summary(self, received: R) -> str:
        """What arrived, shortly, for a timeout message."""
        return repr(received)[:_QUOTE_LIMIT]

    @contextmanager
    def _arrived(self) -> Iterator[None]:
        """Record an arrival inside this block: it holds the arrival lock, then wakes every ``wait_for``."""
        with self._arrival:
            yield
            self._arrival.notify_all()

    def wait_for(self, predicate: Callable[[R], bool], timeout: float = 5.0, *,
                 what: Optional[str] = None) -> R:
        """Block until ``predicate(received)`` holds and return ``received``; ``what`` names the condition in
        the ``TimeoutError`` raised after ``timeout`` seconds (default: the predicate's docstring or source)."""
        deadline = time.monotonic() + timeout
        with self._arrival:
            while True:
                received = self._received()
                if predicate(received):
                    return received
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.label} at {self.address}: waited {timeout:g} s for "
                                       f"{what or describe(predicate)}; received {self._summary(received)}")
                self._arrival.wait(left if self.recheck_seconds is None else min(left, self.recheck_seconds))


# -- stand-ins that are HTTP servers -------------------------------------------------------------------------
@dataclass
class HttpRequest:
    """One request as an HTTP stand-in received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


class HttpStandin(Standin[R]):
    """A threaded HTTP/1.1 server on 127.0.0.1 that hands every request to ``respond``.

    ``address`` is the base URL, ``http://127.0.0.1:<port>``; the port is bound at construction (``port=0``
    picks a free one), so the address is known before ``start()``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                request = HttpRequest(self.command, parts.path, parse_qs(parts.query),
                                      {k.lower(): v for k, v in self.headers.items()},
                                      self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                response = standin.respond(request)
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._host = host
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.label, daemon=True)

    @abstractmethod
    def respond(self, request: HttpRequest) -> HttpResponse:
        """The answer to one request (called on the server's request thread)."""

    @property
    def address(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def _serve(self) -> None:
        self._thread.start()

    def _shutdown(self, was_running: bool) -> None:
        if was_running:
            self._server.shutdown()
        self._server.server_close()
