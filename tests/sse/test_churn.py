"""Issue 10 ("Churn"): slots come back as soon as a client goes, whatever the collector does.

The issue's findings: one client connecting and closing 1,000 times in a row got 503 from cycle ~110 on; 20
churning clients got 580 x 503 with a live collector; with a black-holed collector the app reached 293
threads and a live stream's events stalled for over 8 s. Each test here churns against the app in uvicorn
(``harness.AppProcess``) with a cap above the number of clients, so any 503 is a slot given back late, and
samples the app process's threads and RSS (``/proc``) against a baseline taken after a warm-up churn (the
IO pool and the flush worker exist by then).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from standins.otlp_receiver import Blackhole
from tests.sse.churn_client import Churn, Usage
from tests.sse.harness import SSE, AppProcess, new_parent, new_root, put_item, trace_header

CLIENTS = 20
#: Room for every churning client twice over (and the watching stream): a 503 means slots came back late.
CAP = 2 * CLIENTS + 2
#: The issue's 1,000 in a row with a live collector; with a black-holed one, 200 (each cycle there is slower, and a
#: slot held until the flush gave up would show as a 503 after CAP cycles).
SEQUENTIAL_CYCLES = {"live": 1000, "blackhole": 200}
#: The issue's 20 s of 20 churning clients, per collector (thousands of cycles; its failures showed within ~110).
CHURN_S = 20.0
#: Threads the app may have beyond its warmed-up baseline at any sample (the issue saw +270).
THREAD_SLACK = 10
#: RSS growth allowed over the run (allocator noise; a leak per cycle is tens of MB over thousands).
RSS_SLACK_KB = 50 * 1024
#: A live stream's heartbeat comes every 0.5 s (harness); under churn on a loaded machine it may lag this much, half the
#: issue's 8 s stall.
MAX_EVENT_GAP_S = 4.0


def _pid(app: AppProcess) -> int:
    assert app.proc is not None
    return app.proc.pid


def _churned(url: str, usage: Usage, clients: int, *limit: str) -> dict:
    """Churn to the end, sampling the app's threads and RSS meanwhile."""
    with Churn(url, clients, *limit) as churn:
        while churn.running():
            usage.sample()
            time.sleep(0.1)
        return churn.result()


@pytest.fixture(params=["live", "blackhole"])
def collector(request) -> str:
    """A live OTLP receiver, or a collector that accepts connections and never answers."""
    return request.param


@pytest.fixture
def churn_app(collector, app_factory, receiver) -> Iterator[AppProcess]:
    """The app with a cap of ``CAP`` exporting to ``collector``."""
    hole = Blackhole() if collector == "blackhole" else None
    try:
        app = app_factory(hole.endpoint if hole else receiver.endpoint, SSE_MAX_CONNECTIONS=str(CAP))
        try:
            yield app
        finally:
            app.close()  # now, not at the session's end: each holds a port, a process and its pools
    finally:
        if hole:
            hole.close()


def _connections(url: str) -> int:
    """What ``/api/v2/stream/status`` counts (``Sampled=0``: the probe itself exports nothing)."""
    probe = {"X-Amzn-Trace-Id": trace_header(new_root(), new_parent(), sampled=0)}
    return httpx.get(f"{url}/api/v2/stream/status", headers=probe, timeout=10).json()["connections"]


def _wait_no_connections(url: str, timeout: float) -> int:
    end = time.monotonic() + timeout
    while (open_now := _connections(url)) and time.monotonic() < end:
        time.sleep(0.02)
    return open_now


def _warmed_up(app: AppProcess) -> tuple[Usage, int, int]:
    """The app after a short concurrent churn, and its baseline: the most threads seen during that churn (its
    IO pool and flush worker at their working size) and the RSS after it."""
    usage = Usage(_pid(app))
    warm = _churned(app.url, usage, CLIENTS, "--cycles", "5")
    assert warm["statuses"] == {"200": CLIENTS * 5}, warm
    assert _wait_no_connections(app.url, 10) == 0
    threads = usage.max_threads
    usage.samples.clear()
    _, rss = usage.sample()
    return usage, threads, rss


def _assert_flat(usage: Usage, base_threads: int, base_rss: int) -> None:
    threads, rss = usage.sample()
    assert usage.max_threads <= base_threads + THREAD_SLACK, f"threads {base_threads} -> {usage.samples}"
    assert rss - base_rss <= RSS_SLACK_KB, f"RSS {base_rss} kB -> {rss} kB"


def test_issue10_sequential_connect_close_1000_times_never_503(collector, churn_app):
    """Issue 10: 1,000 connect/close cycles in a row, one client, far below the cap: every one is a 200,
    no connection is left open at the end, and the app's threads and RSS stay flat."""
    cycles = SEQUENTIAL_CYCLES[collector]
    usage, base_threads, base_rss = _warmed_up(churn_app)
    got = _churned(churn_app.url, usage, 1, "--cycles", str(cycles))
    assert got["statuses"] == {"200": cycles} and not got["errors"], got
    assert _wait_no_connections(churn_app.url, 10) == 0
    _assert_flat(usage, base_threads, base_rss)


def test_issue10_twenty_churning_clients_get_no_503_and_a_live_stream_keeps_flowing(churn_app, items_table):
    """Issue 10: 20 clients connecting and closing as fast as they can, below the cap: no 503; meanwhile a
    long-lived stream's heartbeats keep their pace and an item written mid-churn reaches it; afterwards
    the status endpoint counts zero connections and threads and RSS are where they started."""
    usage, base_threads, base_rss = _warmed_up(churn_app)
    url, sym = churn_app.url, "C" + uuid.uuid4().hex[:5].upper()
    with SSE(f"{url}/api/v2/stream", params={"tickers": sym}) as watched:
        watched.until(lambda e: e.event == "connected", 5)
        with Churn(url, CLIENTS, "--seconds", str(CHURN_S)) as churn:
            arrivals = [time.monotonic()]
            written = False
            while churn.running():
                watched.until(lambda e: e.event in ("heartbeat", "sentiment"), 10)
                arrivals.append(time.monotonic())
                usage.sample()
                if not written and arrivals[-1] - arrivals[0] > CHURN_S / 2:
                    put_item(items_table, sym)
                    written = True
            got = churn.result()
        if not any(e.event == "sentiment" for e in watched.events):
            watched.until(lambda e: e.event == "sentiment", 10)
    assert set(got["statuses"]) == {"200"} and got["statuses"]["200"] > CLIENTS and not got["errors"], got
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) <= MAX_EVENT_GAP_S, f"a live stream waited {max(gaps):.2f} s for an event"
    assert _wait_no_connections(url, 10) == 0
    _assert_flat(usage, base_threads, base_rss)
