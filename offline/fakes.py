"""Local HTTP fakes of Tiingo, Finnhub and SendGrid on 127.0.0.1, which can be told to fail.

Each fake answers the one endpoint the handlers use, with the real API's path, auth header and response
shape, and records every request. ``fail(status)`` makes it answer with an error (optionally only the next
``times`` requests), ``delay(seconds)`` slows it, ``heal()`` undoes both and forgets the recorded requests. Used by the handler tests and the
e2e run; point the handlers at ``fake.url`` through ``TIINGO_BASE_URL`` / ``FINNHUB_BASE_URL`` /
``SENDGRID_BASE_URL``.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class _Failure:
    status: int
    body: bytes
    remaining: Optional[int]  # None: until heal()


@dataclass
class FakeAPI:
    """A tiny HTTP server; subclasses define ``respond(request) -> (status, json-able body)``."""

    name: str = "fake"
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failure: Optional[_Failure] = None
        self._delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                req = Request(self.command, parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                status, payload = fake._dispatch(req)
                out = b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"fake-{self.name}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, status: int = 500, *, times: Optional[int] = None, body: Any = None) -> None:
        raw = json.dumps(body if body is not None else {"error": f"{self.name} fake told to fail"}).encode()
        with self._lock:
            self._failure = _Failure(status, raw, times)

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def heal(self) -> None:
        with self._lock:
            self._failure = None
        self._delay = 0.0
        self.requests.clear()

    def _dispatch(self, req: Request) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(req)
            failure = self._failure
            if failure is not None and failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failure = None
        if self._delay:
            time.sleep(self._delay)
        if failure is not None:
            return failure.status, failure.body
        return self.respond(req)

    def respond(self, req: Request) -> tuple[int, Any]:  # pragma: no cover - overridden
        return 404, {"error": "not found"}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class TiingoFake(FakeAPI):
    """``GET /tiingo/news?tickers=A,B`` with ``Authorization: Token <key>``; returns ``articles`` per ticker."""

    def __init__(self, token: str = "tiingo-test-key"):
        self.token = token
        self.articles: dict[str, list[dict]] = {}
        super().__init__(name="tiingo")

    def add(self, ticker: str, title: str, description: str = "", published: Optional[float] = None) -> dict:
        art = {"id": len(self.requests) * 1000 + sum(len(v) for v in self.articles.values()) + 1,
               "title": title, "description": description, "url": f"https://news.example/{ticker}/{title[:20]}",
               "publishedDate": _iso(published or time.time()), "tickers": [ticker.lower()], "tags": [],
               "source": "example.com"}
        self.articles.setdefault(ticker.upper(), []).append(art)
        return art

    def respond(self, req: Request) -> tuple[int, Any]:
        if req.path != "/tiingo/news":
            return 404, {"detail": "Not found."}
        if req.headers.get("authorization") != f"Token {self.token}":
            return 401, {"detail": "Invalid token."}
        tickers = [t.upper() for t in ",".join(req.query.get("tickers", [""])).split(",") if t]
        return 200, [a for t in tickers for a in self.articles.get(t, [])]


class FinnhubFake(FakeAPI):
    """``GET /company-news?symbol=X&from=..&to=..`` with ``X-Finnhub-Token``; the real response shape."""

    def __init__(self, token: str = "finnhub-test-key"):
        self.token = token
        self.articles: dict[str, list[dict]] = {}
        super().__init__(name="finnhub")

    def add(self, ticker: str, headline: str, summary: str = "", published: Optional[float] = None) -> dict:
        art = {"category": "company", "datetime": int(published or time.time()), "headline": headline,
               "id": 5000 + sum(len(v) for v in self.articles.values()), "image": "", "related": ticker.upper(),
               "source": "example.com", "summary": summary, "url": f"https://finnhub.example/{ticker}/{headline[:20]}"}
        self.articles.setdefault(ticker.upper(), []).append(art)
        return art

    def respond(self, req: Request) -> tuple[int, Any]:
        if req.path != "/company-news":
            return 404, {"error": "not found"}
        if req.headers.get("x-finnhub-token") != self.token:
            return 401, {"error": "Invalid API key"}
        symbol = (req.query.get("symbol") or [""])[0].upper()
        return 200, self.articles.get(symbol, [])


class SendGridFake(FakeAPI):
    """``POST /v3/mail/send`` with ``Authorization: Bearer <key>``; 202 and an empty body, like SendGrid."""

    def __init__(self, api_key: str = "SG.test-key"):
        self.api_key = api_key
        super().__init__(name="sendgrid")

    @property
    def sent(self) -> list[dict]:
        return [r.json() for r in self.requests if r.path == "/v3/mail/send" and r.method == "POST"]

    def respond(self, req: Request) -> tuple[int, Any]:
        if (req.method, req.path) != ("POST", "/v3/mail/send"):
            return 404, {"errors": [{"message": "not found"}]}
        if req.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked"}]}
        return 202, None

