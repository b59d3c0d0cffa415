"""FR-118 close classes in headless Chromium against the real app (SC-015, FR-033, FR-081).

``network`` is covered by the server-kill test in ``test_browser.py``. Here a Lambda Web Adapter stand-in
(``adapter.py``) sits between the page and the app, so:

- ``sentinel``: the adapter gives the invocation a deadline that leaves the stream ``STREAM_WINDOW_S`` to
  deliver an event, then the app itself ends the stream with ``event: deadline`` (FR-100), and the client
  reconnects at once;
- ``abnormal``: the body ends cleanly right after an event, without the sentinel, and the client waits
  1-3 s before reconnecting.

Both reconnects must carry the last delivered event's id as ``Last-Event-ID`` and resume by replay. The
delay is observed twice: as the client reports it (``error`` event ``delayMs``) and on the wire (time
from the end of one body to the next stream request at the adapter): a sentinel reconnect reaches the
adapter sooner than any abnormal one may, an abnormal one no sooner than the client said.
"""
from __future__ import annotations

import re
import uuid

import pytest

from contract.xray import TRACE_HEADER
from handlers.sse.stream import DEADLINE_MARGIN_S
from tests.sse.harness import put_item
from tests.web.adapter import AdapterStandIn, Step

ROOT = re.compile(r"Root=(1-[0-9a-f]{8}-[0-9a-f]{24});")
#: The browser client's documented wait after an abnormal end (web/sse-client.js), in seconds.
ABNORMAL_DELAY_S = (1.0, 3.0)
#: How long the sentinel test's stream runs before its deadline: time for the page to see ``connected``,
#: for the item to be written and polled, and for its event to reach the page. About a second at most on a
#: busy 2-core machine: >= 5x of that.
STREAM_WINDOW_S = 5.0
#: A browser timer may fire this much before its nominal time (timer coarsening).
TIMER_EARLY_S = 0.05


@pytest.fixture(scope="module")
def lwa(cors_app):
    adapter = AdapterStandIn(cors_app.url)
    yield adapter
    adapter.close()


def ticker() -> str:
    return "C" + uuid.uuid4().hex[:5].upper()


def run_until_reconnected(page, web_origin, lwa, items_table, kind: str) -> dict:
    """Open the demo through the adapter, deliver one event, wait for the `kind` close and the reconnect."""
    sym = ticker()
    page.goto(f"{web_origin}/index.html?sse={lwa.url}&tickers={sym}&sampled=1&base_delay_ms=200")
    page.wait_for_function("window.demo && window.demo.events.some(e => e.type === 'connected')", timeout=15000)
    put_item(items_table, sym)
    page.wait_for_function("window.demo.events.some(e => e.type === 'sentiment')", timeout=15000)
    delivered = page.evaluate("window.demo.events.find(e => e.type === 'sentiment')")
    page.wait_for_function(f"window.demo.errors.some(e => e.kind === '{kind}')", timeout=15000)
    page.wait_for_function("window.demo.events.filter(e => e.type === 'connected').length >= 2", timeout=15000)
    state = page.evaluate("""() => ({
        errors: window.demo.errors, states: window.demo.states, readyState: window.demo.client.readyState,
        connected: window.demo.events.filter(e => e.type === 'connected'),
        types: window.demo.events.map(e => e.type)})""")
    page.evaluate("window.demo.client.close()")
    streams = lwa.streams()[-2:]
    assert len(streams) == 2
    return {"delivered": delivered, "first": streams[0], "second": streams[1], **state}


def _common_resume_checks(r: dict, kind: str) -> None:
    first, second = r["first"], r["second"]
    assert [e["kind"] for e in r["errors"]] == [kind], r["errors"]  # exactly one close, of this class
    assert r["delivered"]["id"] and second.headers["last-event-id"] == r["delivered"]["id"]  # FR-081
    assert "last-event-id" not in first.headers
    header = ROOT.match(first.headers[TRACE_HEADER])
    assert header, first.headers[TRACE_HEADER]
    first_root = header.group(1)
    assert second.headers[TRACE_HEADER] != first.headers[TRACE_HEADER]
    assert f"previous_trace_id={first_root}" in second.path and "connection_sequence=1" in second.path  # FR-048
    assert r["connected"][1]["data"]["resume"] == "replay"  # the same instance knows the id
    assert r["states"][-2:] == ["CONNECTING", "OPEN"] and r["readyState"] == 1


def test_fr118_sentinel_close_reconnects_immediately_with_last_event_id(page, web_origin, lwa, items_table):
    """FR-118 `sentinel`: the app ends the stream with `event: deadline` (FR-093/100) and the body ends
    normally; the client reconnects with no delay (delayMs 0; on the wire, sooner than the shortest abnormal
    wait), sending Last-Event-ID."""
    lwa.script[:] = [Step(deadline_s=DEADLINE_MARGIN_S + STREAM_WINDOW_S)]
    r = run_until_reconnected(page, web_origin, lwa, items_table, "sentinel")
    first, second = r["first"], r["second"]
    assert first.how == "complete" and b"event: deadline" in first.body
    assert r["types"].index("deadline") > r["types"].index("sentiment")
    assert r["errors"][0]["delayMs"] == 0
    assert second.started - first.ended < ABNORMAL_DELAY_S[0], second.started - first.ended
    _common_resume_checks(r, "sentinel")


def test_fr118_abnormal_close_waits_1_to_3_s_then_resumes_with_last_event_id(page, web_origin, lwa, items_table):
    """FR-118 `abnormal`: the body ends cleanly without the sentinel right after an event; the client
    waits 1-3 s (not the immediate sentinel reconnect, not the network backoff), and the next request
    reaches the adapter no sooner than that; it resumes from the id."""
    lwa.script[:] = [Step(cut_after=b"event: sentiment")]
    r = run_until_reconnected(page, web_origin, lwa, items_table, "abnormal")
    first, second = r["first"], r["second"]
    assert first.how == "cut" and b"event: deadline" not in first.body
    assert "deadline" not in r["types"]
    delay_s = r["errors"][0]["delayMs"] / 1000
    assert ABNORMAL_DELAY_S[0] <= delay_s <= ABNORMAL_DELAY_S[1]
    gap = second.started - first.ended
    assert gap >= delay_s - TIMER_EARLY_S, (gap, delay_s)
    _common_resume_checks(r, "abnormal")
