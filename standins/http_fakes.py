"""Local HTTP fakes of Tiingo, Finnhub and SendGrid on 127.0.0.1, which can be told to fail.

Each fake answers the one endpoint the handlers use, with the real API's path, auth header and response
shape, and records every request. ``fail(status)`` makes it answer with an error (optionally only the next
``times`` requests), ``delay(seconds)`` slows it, ``heal()`` undoes both and forgets the recorded requests.
``address`` is the base URL, ``http://127.0.0.1:<port>``: point the handlers at it through
``TIINGO_BASE_URL`` / ``FINNHUB_BASE_URL`` / ``SENDGRID_BASE_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>`` for a
bare ``FakeAPI`` playing a failing AWS service). ``wait_for`` hands the predicate ``list[HttpRequest]``.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Optional

from standins.base import HttpRequest, HttpResponse, HttpStandin


@dataclass
class _Failure:
    status: int
    body: bytes
    remaining: Optional[int]  # None: until heal()


class FakeAPI(HttpStandin[list[HttpRequest]]):
    """A recording HTTP fake; subclasses define ``answer(request) -> (status, JSON-able body or None)``."""

    def __init__(self, name: str = "fake"):
        self.name = name
        self.label = f"{name} fake"
        self._requests: list[HttpRequest] = []
        self._failure: Optional[_Failure] = None
        self._delay = 0.0
        self._faults = threading.Lock()
        super().__init__()

    # -- faults --------------------------------------------------------------------------------------------------
    def fail(self, status: int = 500, *, times: Optional[int] = None, body: Any = None) -> None:
        raw = json.dumps(body if body is not None else {"error": f"{self.name} fake told to fail"}).encode()
        with self._faults:
            self._failure = _Failure(status, raw, times)

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def heal(self) -> None:
        with self._faults:
            self._failure = None
        self._delay = 0.0
        with self._arrival:
            self._requests.clear()

    # -- what arrived ----------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[HttpRequest]:
        """Every request since the last ``heal()``, in arrival order."""
        with self._arrival:
            return list(self._requests)

    def _received(self) -> list[HttpRequest]:
        return list(self._requests)

    def _summary(self, received: list[HttpRequest]) -> str:
        return f"{len(received)} requests: {[(r.method, r.path) for r in received[-20:]]}"

    # -- answering -----------------------------------------------------------------------------------------------
    def respond(self, request: HttpRequest) -> HttpResponse:
        with self._arrived():
            self._requests.append(request)
        with self._faults:
            failure = self._failure
            if failure is not None and failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failure = None
        if self._delay:
            time.sleep(self._delay)  # the injected slowness itself, not a wait for an event
        if failure is not None:
            return HttpResponse(failure.status, failure.body)
        status, payload = self.answer(request)
        return HttpResponse(status, b"" if payload is None else json.dumps(payload).encode())

    def answer(self, request: HttpRequest) -> tuple[int, Any]:
        """The API's answer when no failure is injected; a bare ``FakeAPI`` knows no endpoint."""
        return 404, {"error": "not found"}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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

    def answer(self, request: HttpRequest) -> tuple[int, Any]:
        if request.path != "/tiingo/news":
            return 404, {"detail": "Not found."}
        if request.headers.get("authorization") != f"Token {self.token}":
            return 401, {"detail": "Invalid token."}
        tickers = [t.upper() for t in ",".join(request.query.get("tickers", [""])).split(",") if t]
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

    def answer(self, request: HttpRequest) -> tuple[int, Any]:
        if request.path != "/company-news":
            return 404, {"error": "not found"}
        if request.headers.get("x-finnhub-token") != self.token:
            return 401, {"error": "Invalid API key"}
        symbol = (request.query.get("symbol") or [""])[0].upper()
        return 200, self.articles.get(symbol, [])


class SendGridFake(FakeAPI):
    """``POST /v3/mail/send`` with ``Authorization: Bearer <key>``; 202 and an empty body, like SendGrid."""

    def __init__(self, api_key: str = "SG.test-key"):
        self.api_key = api_key
        super().__init__(name="sendgrid")

    @property
    def sent(self) -> list[dict]:
        return [r.json() for r in self.requests if r.path == "/v3/mail/send" and r.method == "POST"]

    def answer(self, request: HttpRequest) -> tuple[int, Any]:
        if (request.method, request.path) != ("POST", "/v3/mail/send"):
            return 404, {"errors": [{"message": "not found"}]}
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked"}]}
        return 202, None
