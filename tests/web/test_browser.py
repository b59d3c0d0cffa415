"""The browser client in headless Chromium against the real app (SC-015, FR-032/033, FR-015/016, FR-048).

The page is served from one origin and the app from another, so every stream is a real cross-origin
fetch with a preflight: the Function URL's CORS (emulated from the same constants the program deploys)
is exercised by the browser itself.
"""
from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlparse

import httpx

from contract.streaming import CORS_ALLOW_HEADERS, CORS_MAX_AGE_SECONDS
from contract.xray import TRACE_HEADER
from tests.sse.harness import put_item

HEADER = re.compile(r"Root=(1-[0-9a-f]{8}-[0-9a-f]{24});Parent=[0-9a-f]{16};Sampled=1")


def ticker() -> str:
    return "W" + uuid.uuid4().hex[:5].upper()


def stream_requests(log: list, app_url: str) -> list:
    return [r for r in log if r.url.startswith(f"{app_url}/api/v2/stream?") and r.method == "GET"]


def open_demo(page, web_origin, app_url, sym, log):
    def record(request) -> None:  # not log.append: Playwright sets an attribute on its handler, a builtin has none
        log.append(request)

    page.on("request", record)
    page.goto(f"{web_origin}/index.html?sse={app_url}&tickers={sym}&sampled=1&base_delay_ms=200")
    page.wait_for_function("window.demo && window.demo.events.some(e => e.type === 'connected')", timeout=15000)


def test_sc015_fr016_events_arrive_and_every_request_carries_a_trace_header(page, web_origin, cors_app, receiver,
                                                                           items_table):
    """SC-015/FR-032: fetch + ReadableStream delivers the events; the stream request and the API call both
    carry X-Amzn-Trace-Id made by the client (FR-016), and the server's spans land in that very trace."""
    log: list = []
    sym = ticker()
    open_demo(page, web_origin, cors_app.url, sym, log)
    put_item(items_table, sym, sentiment="negative")
    page.wait_for_function("window.demo.events.some(e => e.type === 'sentiment')", timeout=15000)
    event = page.evaluate("window.demo.events.find(e => e.type === 'sentiment')")
    assert event["data"]["tickers"] == [sym] and event["data"]["sentiment"] == "negative" and event["id"]
    assert page.evaluate("window.demo.client.readyState") == 1
    assert page.evaluate("window.demo.client.lastEventId") == event["id"]

    first = stream_requests(log, cors_app.url)[0]
    header = HEADER.fullmatch(first.headers[TRACE_HEADER])
    assert header, first.headers[TRACE_HEADER]
    root = header.group(1)
    assert event["data"]["trace_id"] == root == page.evaluate("window.demo.client.traceId")
    page.wait_for_function("window.demo.status !== null", timeout=10000)
    status = page.evaluate("window.demo.status")
    assert status.get("status") == 200, status
    api = [r for r in log if r.url == f"{cors_app.url}/api/v2/stream/status"]
    assert api and HEADER.fullmatch(api[0].headers[TRACE_HEADER])
    page.evaluate("window.demo.client.close()")
    spans = receiver.wait_for(lambda s: any(x.name == "connection_release" and x.xray_trace_id == root for x in s), 10)
    assert {"connection_acquire", "sse_event_dispatch"} <= {x.name for x in spans if x.xray_trace_id == root}


def test_fr033_fr048_killed_server_reconnect_sends_last_event_id_and_previous_trace(page, web_origin, cors_app,
                                                                                    items_table):
    """FR-033/FR-081/FR-048: when the server dies mid-stream the client goes back to CONNECTING, backs
    off, reconnects with Last-Event-ID and a new Root, and names the previous trace, its session and the
    connection sequence."""
    log: list = []
    sym = ticker()
    open_demo(page, web_origin, cors_app.url, sym, log)
    put_item(items_table, sym)
    page.wait_for_function("window.demo.events.some(e => e.type === 'sentiment')", timeout=15000)
    last_id = page.evaluate("window.demo.client.lastEventId")
    first_root = page.evaluate("window.demo.client.traceId")
    session = page.evaluate("window.demo.client.sessionId")

    cors_app.kill()
    page.wait_for_function("window.demo.errors.some(e => e.kind === 'network')", timeout=15000)
    cors_app.start()
    page.wait_for_function("window.demo.events.filter(e => e.type === 'connected').length >= 2", timeout=20000)

    requests = stream_requests(log, cors_app.url)
    assert len(requests) >= 2
    again = requests[-1]
    assert again.headers["last-event-id"] == last_id
    header = HEADER.fullmatch(again.headers[TRACE_HEADER])
    assert header, again.headers[TRACE_HEADER]
    second_root = header.group(1)
    assert second_root != first_root
    query = parse_qs(urlparse(again.url).query)
    assert query["previous_trace_id"] == [first_root] and query["session_id"] == [session]
    assert int(query["connection_sequence"][0]) >= 1
    connected = page.evaluate("window.demo.events.filter(e => e.type === 'connected').pop()")
    assert connected["data"]["previous_trace_id"] == first_root
    assert connected["data"]["resume"] == "replay_miss"  # a new instance cannot know the old ids
    assert "CONNECTING" in page.evaluate("window.demo.states")[1:]
    assert page.evaluate("window.demo.client.readyState") == 1


def test_sc015_fr015_cors_preflight_allows_exactly_the_function_url_headers(page, web_origin, cors_app):
    """FR-015/FR-082/FR-119: the preflight allows the trace, replay and auth headers, exposes the trace
    header to scripts and is cached for the contract's max age; a header outside the list is blocked by the browser."""
    pre = httpx.options(f"{cors_app.url}/api/v2/stream", headers={
        "Origin": web_origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-amzn-trace-id,last-event-id,authorization"})
    assert pre.status_code == 200
    assert set(pre.headers["access-control-allow-headers"].split(",")) == set(CORS_ALLOW_HEADERS)
    assert pre.headers["access-control-max-age"] == str(CORS_MAX_AGE_SECONDS)
    assert pre.headers["access-control-allow-origin"] == web_origin

    page.goto(f"{web_origin}/index.html?sse=http://127.0.0.1:9")  # the page's own client fails harmlessly
    result = page.evaluate("""async (base) => {
        const ok = await fetch(base + '/api/v2/stream/status', {headers: {'X-Amzn-Trace-Id':
            'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1', 'Last-Event-ID': 'x:1'}});
        const exposed = ok.headers.get('x-amzn-trace-id');
        let blocked = false;
        try { await fetch(base + '/api/v2/stream/status', {headers: {'X-User-Id': 'u1'}}); }
        catch (e) { blocked = true; }
        return {status: ok.status, exposed, blocked};
    }""", cors_app.url)
    assert result["status"] == 200 and result["blocked"] is True
    assert result["exposed"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
