"""FR-108: the ``OTEL_SDK_DISABLED`` kill switch, on the wire (uvicorn subprocess, moto, OTLP receivers).

With ``OTEL_SDK_DISABLED=true`` the app starts (even with an OTel setting that would otherwise stop it,
FR-106), streams exactly as usual and sends nothing to the collector. Any other value leaves tracing on,
as the SDK itself reads only ``true``: that case is also the control showing the receiver path works.
"""
from __future__ import annotations

import uuid

import httpx
import pytest

from contract.streaming import SDK_DISABLED_VAR
from contract.xray import TRACE_HEADER, TRACE_ID
from handlers.sse.wire import RETRY_MS
from standins.otlp_receiver import OtlpReceiver
from tests.sse.harness import SSE, new_parent, new_root, put_item, trace_header


def ticker() -> str:
    return "K" + uuid.uuid4().hex[:5].upper()


@pytest.fixture(scope="module")
def receivers():
    with OtlpReceiver() as off, OtlpReceiver() as on:
        yield off, on


def _stream_one_event(url: str, items_table, headers: dict) -> tuple:
    sym = ticker()
    with SSE(f"{url}/api/v2/stream", headers, {"tickers": sym}) as s:
        assert s.response.status_code == 200
        connected = s.until(lambda e: e.event == "connected", 5)
        put_item(items_table, sym)
        ev = s.until(lambda e: e.event == "sentiment", 10)
        beat = s.until(lambda e: e.event == "heartbeat", 5)
        header = s.response.headers[TRACE_HEADER]
    assert s.events[0].retry == RETRY_MS and ev.id and ev.json["tickers"] == [sym]
    return connected, ev, beat, header


def test_fr108_otel_sdk_disabled_streams_normally_and_exports_nothing(app_factory, receivers, items_table):
    """FR-108: OTEL_SDK_DISABLED=true -> the app starts although OTEL_TRACES_SAMPLER is one FR-106 would
    refuse, serves streams (with and without an X-Ray header) and the status endpoint with their trace ids
    intact (FR-115), logs that tracing is off, and not one POST reaches the collector, even from the app's
    shutdown flush (which exports whatever a live processor still holds)."""
    off, _ = receivers
    app = app_factory(off.endpoint, **{SDK_DISABLED_VAR: "TRUE "}, OTEL_TRACES_SAMPLER="always_on")

    root = new_root()
    connected, ev, beat, header = _stream_one_event(
        app.url, items_table, {"X-Amzn-Trace-Id": trace_header(root, new_parent())})
    assert connected.json["trace_id"] == ev.json["trace_id"] == beat.json["trace_id"] == root
    assert header == f"Root={root}"

    # No header: the events still carry a well-formed X-Ray id (there is no span to take it from).
    connected, ev, _, header = _stream_one_event(app.url, items_table, {})
    assert TRACE_ID.fullmatch(ev.json["trace_id"]) and ev.json["trace_id"] != "1-00000000-000000000000000000000000"
    assert header == f"Root={ev.json['trace_id']}" == f"Root={connected.json['trace_id']}"

    status = httpx.get(f"{app.url}/api/v2/stream/status", headers={"X-Amzn-Trace-Id": trace_header(new_root(), new_parent())})
    assert status.status_code == 200 and status.json()["connections"] == 0

    app.stop()  # the barrier: the lifespan's shutdown flush would export anything a processor held
    assert off.posts == 0 and off.snapshot() == []
    lines = app.log_lines()
    assert any(line.get("otel_sdk_disabled") is True and line["level"] == "WARNING" for line in lines)
    opened = [line for line in lines if line.get("message") == "stream opened"]
    assert len(opened) == 2 and opened[0]["xray_trace_id"] == root  # D12: logs keep the trace id


def test_fr108_only_true_disables_tracing(app_factory, receivers):
    """FR-108: the SDK reads only `true`; `1` leaves tracing on (and the app warns), so the app and the SDK
    never disagree. Also the control for the test above: the same setup does export."""
    _, on = receivers
    app = app_factory(on.endpoint, **{SDK_DISABLED_VAR: "1"})
    root = new_root()
    with SSE(f"{app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(root, new_parent())}) as s:
        s.until(lambda e: e.event == "heartbeat", 5)
    spans = on.wait_for(lambda got: any(x.name == "connection_release" and x.xray_trace_id == root for x in got), 10)
    assert {"connection_acquire", "connection_release"} <= {x.name for x in spans}
    assert any("tracing stays ON" in line.get("message", "") for line in app.log_lines())
