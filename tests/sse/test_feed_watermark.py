"""Issue 9, the SSE feed skips old news: its watermark was the article's publication time, so an item published
more than a poll window before the feed started never streamed. It is the analysis time now."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from handlers.sse.feed import OVERLAP
from tests.sse.harness import SSE, put_item


def test_issue9_an_item_published_long_ago_but_analyzed_now_streams(sse_app, items_table):
    sym = "O" + uuid.uuid4().hex[:5].upper()
    published = (datetime.now(UTC) - 40 * OVERLAP).isoformat()  # long before the feed's window
    with SSE(f"{sse_app.url}/api/v2/stream", params={"tickers": sym}) as s:
        s.until(lambda e: e.event == "connected", 5)
        item = put_item(items_table, sym, timestamp=published, analyzed_at=datetime.now(UTC).isoformat())
        event = s.until(lambda e: e.event == "sentiment", 10)
    assert event.json["source_id"] == item["source_id"]


def test_issue9_an_item_analyzed_before_the_window_does_not_replay_as_new(sse_app, items_table):
    """The other side of the watermark: an analysis older than the window is not news (recent publication or not)."""
    sym = "P" + uuid.uuid4().hex[:5].upper()
    stale = (datetime.now(UTC) - 2 * OVERLAP - timedelta(minutes=1)).isoformat()
    put_item(items_table, sym, analyzed_at=stale)
    with SSE(f"{sse_app.url}/api/v2/stream", params={"tickers": sym}) as s:
        s.until(lambda e: e.event == "connected", 5)
        s.until(lambda e: e.event == "heartbeat", 5)
        fresh = put_item(items_table, sym)
        event = s.until(lambda e: e.event == "sentiment", 10)
    assert event.json["source_id"] == fresh["source_id"]
    assert [e.json["source_id"] for e in s.events if e.event == "sentiment"] == [fresh["source_id"]]
