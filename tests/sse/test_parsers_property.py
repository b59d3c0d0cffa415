"""Issue 10 ("No 5xx from bad input", "Parse before you acquire"): property-based tests over every SSE parser.

* Function level: each parser of ``handlers/sse/request.py`` (and the feed's ``EventId``) returns a value of
  its documented shape or raises ``BadRequest`` with a reason; no other exception escapes (no
  ``ValueError`` from ``int`` on 4,301 digits, no ``TypeError`` from a JSON list where a number goes).
* Through the app (in process, Starlette's ``TestClient``): whatever query, headers and path a client sends
  to the stream endpoints, the answer is a 4xx whose JSON body gives a reason, or 503 because the only slot
  is held by the test; never a 5xx of the app's making. A bad value is refused *before* the pool is asked (a
  400 while the pool is full), and afterwards the pool counts exactly the test's one slot: nothing leaked.

Runs are bounded (``max_examples``). The app runs with tracing off (``OTEL_SDK_DISABLED=true``: a flush is
then a no-op, so an example never waits for a collector) against the session's moto server.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Optional
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from contract import streaming
from contract.data import RESOLUTIONS
from contract.streaming import LAMBDA_CONTEXT_HEADER
from handlers.sse import service as service_module
from handlers.sse import telemetry as telemetry_module
from handlers.sse.feed import EventId
from handlers.sse.request import (
    MAX_CONNECTION_SEQUENCE,
    MAX_TICKERS,
    BadRequest,
    Reconnect,
    check_config_id,
    parse_deadline,
    parse_last_event_id,
    parse_resolutions,
    parse_tickers,
)
from tests.sse.harness import function_environment, new_parent, new_root, trace_header

PARSER_RUNS = settings(max_examples=300, deadline=None)
APP_RUNS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- strategies ----------------------------------------------------------------------------------------------------------
#: Any Unicode (digits of other scripts, superscripts, spaces, controls), short.
text = st.text(max_size=32)
#: Numbers as text, where ``str.isdigit`` and ``int`` disagree with what a parser should accept.
numberish = st.one_of(
    st.sampled_from(["1", "0", "-1", "²", "1²", "١٢", " 5", "5 ", "1e2", "0x10", "1.0", "", "1" * 7, "1" * 8,
                     "7" * 4301, str(MAX_CONNECTION_SEQUENCE), str(MAX_CONNECTION_SEQUENCE + 1)]),
    st.integers(-10**30, 10**30).map(str), text)
json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | text,
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                          max_leaves=6)
#: ``x-amzn-lambda-context`` as the adapter sends it, almost, or not at all.
lambda_context = st.one_of(
    st.builds(lambda d: json.dumps({"request_id": "r", "deadline": d}), json_value),
    st.builds(json.dumps, json_value),
    st.sampled_from(['{"deadline": [1]}', '{"deadline": 1' + "0" * 5000 + "}", '{"deadline": 1e999}', "deadline=1",
                     '{"deadline": NaN}', '{"deadline": -Infinity}']),
    text)
ticker_list = st.one_of(st.lists(st.sampled_from(["AAPL", "BRK.B", "msft", "A" * 11, "-X", "", " ", "²"]),
                                 max_size=MAX_TICKERS + 2).map(",".join), text)
resolution_list = st.one_of(st.lists(st.sampled_from([*RESOLUTIONS, "2m", "", " 1m"]), max_size=4).map(",".join),
                            text)


def _instance_ids(instance: str) -> st.SearchStrategy[str]:
    """``Last-Event-ID`` values: this instance's form with any digits, another's, or anything."""
    return st.one_of(numberish.map(lambda n: f"{instance}:{n}"), numberish.map(lambda n: f"0a1b2c3d:{n}"), text,
                     st.text(min_size=200, max_size=400))


# -- function level ------------------------------------------------------------------------------------------------------
def _refused_or(call: Any, *args: Any) -> Optional[Any]:
    """``call(*args)``, or None when it raised ``BadRequest`` with a reason; any other exception fails the test."""
    try:
        return call(*args)
    except BadRequest as exc:
        assert str(exc).strip(), f"{call.__name__}{args!r}: a BadRequest without a reason"
        return None


@PARSER_RUNS
@given(ticker_list)
def test_issue10_tickers_parse_or_are_refused_with_a_reason(value):
    parsed = _refused_or(parse_tickers, value)
    if parsed is not None:
        assert isinstance(parsed, frozenset) and len(parsed) <= MAX_TICKERS
        assert all(t == t.upper() and t.isascii() for t in parsed)


@PARSER_RUNS
@given(resolution_list)
def test_issue10_resolutions_parse_or_are_refused_with_a_reason(value):
    parsed = _refused_or(parse_resolutions, value)
    if parsed is not None:
        assert set(parsed) <= set(RESOLUTIONS) and len(parsed) == len(set(parsed))


@PARSER_RUNS
@given(st.dictionaries(st.sampled_from(["session_id", "previous_trace_id", "connection_sequence"]),
                       st.one_of(numberish, st.just(new_root()), st.just("s" * 8)), max_size=3))
def test_issue10_reconnect_parameters_parse_or_are_refused_with_a_reason(query):
    parsed = _refused_or(Reconnect.from_query, query)
    if parsed is not None and parsed.connection_sequence is not None:
        assert 1 <= parsed.connection_sequence <= MAX_CONNECTION_SEQUENCE
        assert query["connection_sequence"].isascii()


@PARSER_RUNS
@given(_instance_ids("0a1b2c3d"))
def test_issue10_last_event_id_parses_or_is_refused_with_a_reason(value):
    parsed = _refused_or(parse_last_event_id, value)
    if parsed is not None:
        assert isinstance(parsed, EventId) and (parsed.instance is None) == (parsed.seq == 0)
        assert len(str(parsed.seq)) <= 18  # a position is never a number the app cannot afford


@PARSER_RUNS
@given(lambda_context)
def test_issue10_lambda_context_parses_or_is_refused_with_a_reason(value):
    parsed = _refused_or(parse_deadline, value)
    assert parsed is None or (isinstance(parsed, float) and parsed >= 0 and parsed != float("inf"))


@PARSER_RUNS
@given(text)
def test_issue10_configuration_ids_are_checked_with_a_reason(value):
    assert _refused_or(check_config_id, value) in (None, value)


# -- through the app -----------------------------------------------------------------------------------------------------
@pytest.fixture
def full_app(monkeypatch, moto, tables) -> Iterator[tuple[TestClient, Any]]:
    """The app in process with one slot, held by the test: a request that passes every check is a 503."""
    env = function_environment(moto.endpoint, tables, "http://127.0.0.1:9", SSE_MAX_CONNECTIONS="1")
    env[streaming.SDK_DISABLED_VAR] = "true"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(service_module, "_service", None)
    monkeypatch.setattr(telemetry_module, "_telemetry", None)
    from handlers.sse.app import app

    with TestClient(app, raise_server_exceptions=False) as client:
        svc = service_module.service()
        held = svc.pool.try_acquire()
        assert held is not None
        yield client, svc
        held.release()


@st.composite
def stream_requests(draw) -> tuple[str, dict[str, str], dict[bytes, bytes]]:
    """(path, query, headers): either endpoint, any of its parameters and headers, hostile or fine."""
    config = draw(st.one_of(st.sampled_from(["c1", "hostile", "x" * 65]), text.filter(lambda s: s and "/" not in s)))
    path = draw(st.sampled_from(["/api/v2/stream", f"/api/v2/configurations/{quote(config, safe='')}/stream"]))
    query = draw(st.dictionaries(
        st.one_of(st.sampled_from(["tickers", "resolutions", "session_id", "previous_trace_id",
                                   "connection_sequence"]), text),
        st.one_of(ticker_list, resolution_list, numberish, st.just(new_root())), max_size=4))
    headers: dict[bytes, bytes] = {}
    if draw(st.booleans()):
        headers[b"last-event-id"] = draw(_instance_ids("0a1b2c3d")).encode()
    if draw(st.booleans()):
        headers[LAMBDA_CONTEXT_HEADER.encode()] = draw(lambda_context).encode()
    if draw(st.booleans()):
        headers[b"authorization"] = draw(st.one_of(st.just("Bearer " + "u" * 12), text.map(lambda t: "Bearer " + t),
                                                   text)).encode()
    if draw(st.booleans()):
        headers[b"x-amzn-trace-id"] = draw(st.one_of(st.just(trace_header(new_root(), new_parent())), text)).encode()
    return path, query, headers


@APP_RUNS
@given(request_parts=stream_requests())
# The issue's three, always tried: each once failed a stream after (or before) it took its slot.
@example(request_parts=("/api/v2/stream", {}, {b"last-event-id": b"0a1b2c3d:" + b"7" * 4301}))
@example(request_parts=("/api/v2/stream", {}, {LAMBDA_CONTEXT_HEADER.encode(): b'{"deadline": [1]}'}))
@example(request_parts=("/api/v2/stream", {"connection_sequence": "\u00b2"}, {}))
def test_issue10_no_stream_request_is_a_5xx_and_a_bad_value_is_refused_before_a_slot(full_app, request_parts):
    """Issue 10: every 4xx says why; with the pool full only a request that passed every check reaches the pool
    (503); and the pool still counts exactly the test's slot afterwards."""
    client, svc = full_app
    path, query, headers = request_parts
    response = client.get(path, params=query, headers=headers)
    assert response.status_code in (400, 401, 404, 503), (response.status_code, response.text[:300])
    assert response.json()["error"], response.text[:300]
    assert svc.pool.current == 1
