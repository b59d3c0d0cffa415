"""The SSE service on the wire: uvicorn subprocess, real streaming HTTP client, moto, OTLP receiver.

Every assertion is on what arrives at the receiver (what the ADOT collector would forward to X-Ray), on
the bytes of the stream, or on what moto's CloudWatch recorded.
"""
from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from contract import metrics as metric_names
from contract.data import ITEMS, ITEMS_BY_SENTIMENT_ANALYZED, USERS, configuration_key
from contract.streaming import EXPORTER_TIMEOUT_S, LAMBDA_CONTEXT_HEADER, SERVICE_NAME
from contract.xray import ANNOTATION_BUDGET_SSE, ANNOTATION_KEY, EXCEPTION_ANNOTATION_COST, TRACE_HEADER
from handlers.sse.feed import EventId
from handlers.sse.pool import PoolExhausted
from handlers.sse.stream import DEADLINE_MARGIN_S, RETRY_AFTER_S
from handlers.sse.wire import RETRY_MS
from standins.otlp_receiver import Blackhole, dead_endpoint
from tests.handlers.blackhole import BlackHole
from tests.sse.harness import ENVIRONMENT, FUNCTION_NAME, SSE, Event, new_parent, new_root, put_item, trace_header

LIFECYCLE = {"connection_acquire", "dynamodb_poll", "sse_event_dispatch", "connection_release"}
#: How long a deadline test's stream runs before its deadline closes it: time to connect, have an item
#: written, polled and delivered. Measured at up to 0.7 s on a busy 2-core machine: >= 5x of that.
STREAM_WINDOW_S = 4.0
#: What a stream's end may take beyond the exporter's timeout: waking at the deadline, the metrics put, the
#: last frames. Measured at up to 0.15 s on a busy 2-core machine: 10x of that.
END_SLACK_S = 1.5


def ticker() -> str:
    return "T" + uuid.uuid4().hex[:5].upper()


def lambda_context(seconds_left: float) -> tuple[str, float]:
    """What the Lambda Web Adapter forwards (the invocation's deadline in ms since the epoch), and when,
    on this process's monotonic clock, the stream is due to close for it."""
    deadline = time.time() + seconds_left
    closes_at = time.monotonic() + seconds_left - DEADLINE_MARGIN_S
    return json.dumps({"request_id": str(uuid.uuid4()), "deadline": int(deadline * 1000),
                       "invoked_function_arn": f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"}), \
        closes_at


def released(root: str):
    return lambda spans: any(s.name == "connection_release" and s.xray_trace_id == root for s in spans)


@pytest.fixture(scope="module")
def aux_app(app_factory, receiver):
    """Exports only on explicit flushes (schedule delay 60 s), so span arrival proves the flush; cap 2."""
    return app_factory(receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="60000", SSE_MAX_CONNECTIONS="2")


def test_fr088_fr115_sc023_spans_carry_the_request_root_and_parent(sse_app, receiver, items_table):
    """SC-023/SC-010: every span's trace id is the request's X-Ray Root and each lifecycle span's parent is
    its Parent; DynamoDB and CloudWatch spans carry their semantic attributes (FR-027, FR-067); the trace id
    is in every event's data (FR-115) and `retry: 3000` comes first (FR-088)."""
    root, parent, sym = new_root(), new_parent(), ticker()
    with SSE(f"{sse_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(root, parent)},
             {"tickers": sym, "resolutions": "1m,1h"}) as s:
        assert s.response.status_code == 200
        assert s.response.headers["content-type"].startswith("text/event-stream")
        assert s.response.headers[TRACE_HEADER] == f"Root={root}"
        connected = s.until(lambda e: e.event == "connected", 5)
        assert s.events[0].retry == RETRY_MS
        put_item(items_table, sym)
        ev = s.until(lambda e: e.event == "sentiment", 10)
        beat = s.until(lambda e: e.event == "heartbeat", 5)
    assert connected.json["trace_id"] == ev.json["trace_id"] == beat.json["trace_id"] == root
    assert ev.json["tickers"] == [sym] and set(ev.json["buckets"]) == {"1m", "1h"}
    assert ev.id is not None
    assert EventId.parse(ev.id) == EventId(connected.json["instance"], EventId.parse(ev.id).seq)

    spans = receiver.wait_for(released(root), 10)
    mine = [s for s in spans if s.xray_trace_id == root]
    names = {s.name for s in mine}
    assert LIFECYCLE | {"DynamoDB.Query", "CloudWatch.PutMetricData"} <= names
    by_id = {s.span_id: s for s in mine}
    for span in mine:
        if span.name in LIFECYCLE or span.name == "CloudWatch.PutMetricData":
            assert span.parent_span_id == parent, span.name
        if span.name == "DynamoDB.Query":
            assert by_id[span.parent_span_id].name == "dynamodb_poll"
            assert span.attributes["db.system"] == "dynamodb"
            assert span.attributes["aws.dynamodb.table_names"] == [ITEMS.physical_name(ENVIRONMENT)]
            assert span.attributes["aws.dynamodb.index_name"] == ITEMS_BY_SENTIMENT_ANALYZED
            assert span.kind == 3  # CLIENT
        if span.name == "CloudWatch.PutMetricData":
            assert span.attributes["rpc.service"] == "CloudWatch"
            assert span.attributes["rpc.method"] == "PutMetricData"
        assert span.resource["service.name"] == SERVICE_NAME  # FR-047: same as POWERTOOLS_SERVICE_NAME
        assert span.resource["cloud.provider"] == "aws" and span.resource["faas.name"] == FUNCTION_NAME
    dispatch = next(s for s in mine if s.name == "sse_event_dispatch" and s.annotations["event_type"] == "sentiment")
    assert set(dispatch.annotations) == {"event_type", "latency_ms", "is_cold_start", "is_clock_skew", "connection_count"}
    poll = next(s for s in mine if s.name == "dynamodb_poll" and s.annotations["changed_count"] == 1)
    assert {"item_count", "changed_count", "poll_duration_ms", "sentiment_type", "cache_hit", "cache_hit_rate",
            "cache_entry_count", "cache_max_entries", "trigger"} == set(poll.annotations)
    acquire = next(s for s in mine if s.name == "connection_acquire")
    assert {"connection_id", "current_count", "max_connections", "session_id"} <= set(acquire.annotations)
    # D12/FR-012: the trace id is a top-level field of the stream's log lines.
    opened = [line for line in sse_app.log_lines() if line.get("message") == "stream opened"
              and line.get("connection_id") == connected.json["connection_id"]]
    assert opened and opened[0]["xray_trace_id"] == root


def test_sc026_fr059_fr052_sequential_requests_never_mix(sse_app, receiver):
    """SC-026/FR-059: sequential requests on the same warm process each get their own Root and Parent,
    including a repeated Root with a new Parent; a W3C traceparent never wins over the X-Ray header (FR-052)."""
    a, b = new_root(), new_root()
    calls = [(a, new_parent()), (b, new_parent()), (b, new_parent())]
    connection_of = {}
    for root, parent in calls:
        headers = {"x-amzn-trace-id": trace_header(root, parent),  # lower case, as the Web Adapter forwards it
                   "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}
        with SSE(f"{sse_app.url}/api/v2/stream", headers, {"tickers": ticker()}) as s:
            connected = s.until(lambda e: e.event == "connected", 5)
            s.until(lambda e: e.event == "heartbeat", 5)
        assert connected.json["trace_id"] == root
        connection_of[connected.json["connection_id"]] = (root, parent)
        receiver.wait_for(lambda spans, p=parent: any(
            s.name == "connection_release" and s.parent_span_id == p for s in spans), 10)
    spans = receiver.snapshot()
    for cid, (root, parent) in connection_of.items():
        acquire = [s for s in spans if s.name == "connection_acquire" and s.annotations.get("connection_id") == cid]
        assert len(acquire) == 1 and acquire[0].xray_trace_id == root and acquire[0].parent_span_id == parent
    parents = {p for _, p in calls}
    for root in (a, b):
        mine = [s for s in spans if s.xray_trace_id == root and s.name in LIFECYCLE]
        assert mine and all(s.parent_span_id in {p for r, p in calls if r == root} for s in mine)
    assert not [s for s in spans if s.name in LIFECYCLE and s.parent_span_id in parents
                and s.xray_trace_id not in (a, b)]


def test_fr056_sampled_0_exports_nothing(sse_app, receiver, items_table):
    """FR-056: with Sampled=0 not one span is exported (parentbased_always_on), though the client still
    gets its events with the trace id; a sampled request flushed afterwards is the barrier."""
    unsampled, sym = new_root(), ticker()
    with SSE(f"{sse_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(unsampled, new_parent(), 0)},
             {"tickers": sym}) as s:
        s.until(lambda e: e.event == "connected", 5)
        put_item(items_table, sym)
        ev = s.until(lambda e: e.event == "sentiment", 10)
        s.until(lambda e: e.event == "heartbeat", 5)
    assert ev.json["trace_id"] == unsampled
    barrier = new_root()
    with SSE(f"{sse_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(barrier, new_parent())}) as s:
        s.until(lambda e: e.event == "heartbeat", 5)
    receiver.wait_for(released(barrier), 10)
    assert receiver.for_trace(unsampled) == []


def test_sc024_fr093_fr100_every_span_arrives_before_the_response_completes(aux_app, receiver, items_table):
    """SC-024/FR-055: with the batch processor's own export 60 s away, all of the stream's spans (release
    and the final PutMetricData included) are at the receiver when the client sees the end of the
    response: the flush in `finally` ran first. Near the deadline the stream flushes, then sends
    `event: deadline` and ends (FR-093, FR-100)."""
    root, parent, sym = new_root(), new_parent(), ticker()
    context, _ = lambda_context(DEADLINE_MARGIN_S + STREAM_WINDOW_S)
    with SSE(f"{aux_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(root, parent),
                                              LAMBDA_CONTEXT_HEADER: context}, {"tickers": sym}) as s:
        s.until(lambda e: e.event == "connected", 5)
        put_item(items_table, sym)
        s.until(lambda e: e.event == "sentiment", 10)
        events = s.drain(STREAM_WINDOW_S + 10)
        ended_at = s.ended_at
    last = events[-1]
    assert last.event == "deadline"
    assert last.json["reason"] == "timeout_imminent" and 0 < last.json["remaining_ms"] <= DEADLINE_MARGIN_S * 1000
    mine = receiver.for_trace(root)
    release = [x for x in mine if x.name == "connection_release"]
    assert release and release[0].annotations["close_reason"] == "deadline"
    assert all(x.received_at <= ended_at for x in mine)
    assert {"connection_acquire", "dynamodb_poll", "sse_event_dispatch", "CloudWatch.PutMetricData"} <= {x.name for x in mine}
    # FR-149: after the release only the final PutMetricData runs; nothing starts after the flush.
    late = [x.name for x in mine if x.start_ns > release[0].end_ns and x.name != "CloudWatch.PutMetricData"]
    assert late == []


def test_sc024_client_disconnect_releases_the_slot_and_flushes(aux_app, receiver):
    """SC-024: a client that goes away mid-stream ends the stream (not only the next write): its slot is free again and
    its spans arrive (explicit flush: the batch processor would wait 60 s), the release span saying so."""
    root = new_root()
    with SSE(f"{aux_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(root, new_parent())}) as s:
        s.until(lambda e: e.event == "heartbeat", 5)
        assert httpx.get(f"{aux_app.url}/api/v2/stream/status").json()["connections"] == 1
        gone = time.monotonic()
    spans = receiver.wait_for(released(root), 5)
    release = next(x for x in spans if x.name == "connection_release" and x.xray_trace_id == root)
    assert release.annotations["close_reason"] == "client_disconnect"
    assert release.attributes["client.disconnected"] is True and release.status == "UNSET"
    assert release.received_at - gone < 4.0
    assert httpx.get(f"{aux_app.url}/api/v2/stream/status").json()["connections"] == 0


def test_status_endpoint_is_traced_and_flushed_before_it_answers(aux_app, receiver):
    """FR-001: the status endpoint is traced; its span is exported before the response (SC-024)."""
    root, parent = new_root(), new_parent()
    response = httpx.get(f"{aux_app.url}/api/v2/stream/status", headers={"X-Amzn-Trace-Id": trace_header(root, parent)})
    answered = time.monotonic()
    body = response.json()
    assert body["max_connections"] == 2 and body["connections"] == 0
    span = [x for x in receiver.for_trace(root) if x.name == "stream_status"]
    assert span and span[0].parent_span_id == parent and span[0].received_at <= answered


def test_fr042_connection_cap_answers_503_with_retry_after(aux_app, receiver, moto):
    """FR-042: past SSE_MAX_CONNECTIONS the app answers 503 + Retry-After: 30, records an
    error-marked connection_acquire span (status ERROR + exception, FR-144) and counts
    ConnectionAcquireFailures for the lead's alarm; a released slot is usable again."""
    refused_root = new_root()
    with SSE(f"{aux_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(new_root(), new_parent())}) as one, \
            SSE(f"{aux_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(new_root(), new_parent())}) as two:
        one.until(lambda e: e.event == "connected", 5)
        two.until(lambda e: e.event == "connected", 5)
        third = httpx.get(f"{aux_app.url}/api/v2/stream",
                          headers={"X-Amzn-Trace-Id": trace_header(refused_root, new_parent())}, timeout=10)
        assert third.status_code == 503 and third.headers["retry-after"] == str(RETRY_AFTER_S)
    acquire = next(x for x in receiver.for_trace(refused_root) if x.name == "connection_acquire")
    assert acquire.status == "ERROR"
    assert [e["attributes"]["exception.type"] for e in acquire.events if e["name"] == "exception"] == [
        f"{PoolExhausted.__module__}.{PoolExhausted.__qualname__}"]
    assert acquire.annotations["current_count"] == 2 and acquire.annotations["max_connections"] == 2

    end = time.monotonic() + 10
    while httpx.get(f"{aux_app.url}/api/v2/stream/status").json()["connections"] and time.monotonic() < end:
        time.sleep(0.05)
    with SSE(f"{aux_app.url}/api/v2/stream") as again:
        assert again.response.status_code == 200
        again.until(lambda e: e.event == "connected", 5)

    cw = moto.client("cloudwatch")
    stats = cw.get_metric_statistics(Namespace=metric_names.SSE_NAMESPACE,
                                     MetricName=metric_names.CONNECTION_ACQUIRE_FAILURES,
                                     Dimensions=[{"Name": metric_names.FUNCTION_DIMENSION, "Value": FUNCTION_NAME}],
                                     StartTime=time.time() - 600, EndTime=time.time() + 60, Period=60,
                                     Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) >= 1


def test_fr042_metrics_reach_cloudwatch_with_the_function_dimension(sse_app, moto, items_table):
    """FR-042/D7: ConnectionCount, EventLatencyMs, PollDurationMs and ConnectionSetupMs are put in
    SentimentAnalyzer/SSE with dimension FunctionName = AWS_LAMBDA_FUNCTION_NAME (what the alarms watch)."""
    sym = ticker()
    with SSE(f"{sse_app.url}/api/v2/stream", params={"tickers": sym}) as s:
        s.until(lambda e: e.event == "connected", 5)
        put_item(items_table, sym)
        s.until(lambda e: e.event == "sentiment", 10)
    cw = moto.client("cloudwatch")
    wanted = {metric_names.CONNECTION_COUNT, metric_names.EVENT_LATENCY_MS, metric_names.POLL_DURATION_MS,
              metric_names.CONNECTION_SETUP_MS}
    end = time.monotonic() + 10
    while time.monotonic() < end:
        found = {mt["MetricName"] for mt in cw.list_metrics(Namespace=metric_names.SSE_NAMESPACE)["Metrics"]
                 if mt["Dimensions"] == [{"Name": metric_names.FUNCTION_DIMENSION, "Value": FUNCTION_NAME}]}
        if wanted <= found:
            break
        time.sleep(0.1)
    assert wanted <= found


@pytest.mark.parametrize("kind", ["refused", "blackhole"])
def test_d3_dead_collector_delays_the_end_by_at_most_the_exporter_timeout(kind, app_factory, items_table):
    """D3/FR-114: with the collector refusing connections or never answering, the client still gets its
    events, and the end of the stream (flush) is late by at most the exporter timeout plus slack."""
    hole = Blackhole() if kind == "blackhole" else None
    try:
        app = app_factory(hole.endpoint if hole else dead_endpoint())
        sym = ticker()
        context, closes_at = lambda_context(DEADLINE_MARGIN_S + STREAM_WINDOW_S)
        with SSE(f"{app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(new_root(), new_parent()),
                                              LAMBDA_CONTEXT_HEADER: context}, {"tickers": sym}) as s:
            s.until(lambda e: e.event == "connected", 5)
            put_item(items_table, sym)
            s.until(lambda e: e.event == "sentiment", 10)
            events = s.drain(STREAM_WINDOW_S + 15)
            ended = s.ended_at
        assert events[-1].event == "deadline"
        assert ended is not None  # drain() returned, so the stream ended
        late = ended - closes_at
        assert late <= EXPORTER_TIMEOUT_S + END_SLACK_S, f"stream end delayed {late:.2f} s"
        assert httpx.get(f"{app.url}/health").status_code == 200
    finally:
        if hole:
            hole.close()


def test_fr081_replay_from_last_event_id(sse_app, items_table):
    """FR-081: a reconnect with Last-Event-ID gets the buffered events after it at once, in order;
    an id the instance does not know starts at the live head."""
    sym = ticker()
    with SSE(f"{sse_app.url}/api/v2/stream", params={"tickers": sym}) as s:
        s.until(lambda e: e.event == "connected", 5)
        for _ in range(3):
            put_item(items_table, sym)
        got: list[Event] = []
        while len(got) < 3:
            got.append(s.until(lambda e: e.event == "sentiment", 10))
    ids = [e.id for e in got]
    with SSE(f"{sse_app.url}/api/v2/stream", {"Last-Event-ID": ids[0]}, {"tickers": sym}) as s:
        assert s.until(lambda e: e.event == "connected", 5).json["resume"] == "replay"
        replayed = [s.until(lambda e: e.event == "sentiment", 5) for _ in range(2)]
    assert [e.id for e in replayed] == ids[1:]
    assert [e.json["source_id"] for e in replayed] == [e.json["source_id"] for e in got[1:]]
    with SSE(f"{sse_app.url}/api/v2/stream", {"Last-Event-ID": "00000000:1"}, {"tickers": sym}) as s:
        assert s.until(lambda e: e.event == "connected", 5).json["resume"] == "replay_miss"
        s.until(lambda e: e.event == "heartbeat", 5)
        assert not [e for e in s.events if e.event == "sentiment"]


def test_fr048_sc020_reconnect_carries_session_previous_trace_and_sequence(sse_app, receiver, items_table):
    """FR-048/SC-020: every trace of a session carries `session_id`; a reconnect adds `previous_trace_id`
    and `connection_sequence` (from 1), so the chain can be queried. The whole trace stays within the SSE
    annotation budget (D10: <= 25 keys, an exception counting 3)."""
    session, first, second, sym = uuid.uuid4().hex, new_root(), new_root(), ticker()
    with SSE(f"{sse_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(first, new_parent())},
             {"session_id": session, "tickers": sym}) as s:
        s.until(lambda e: e.event == "heartbeat", 5)
    with SSE(f"{sse_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(second, new_parent())},
             {"session_id": session, "previous_trace_id": first, "connection_sequence": "1", "tickers": sym}) as s:
        connected = s.until(lambda e: e.event == "connected", 5)
        put_item(items_table, sym)
        s.until(lambda e: e.event == "sentiment", 10)
        s.until(lambda e: e.event == "heartbeat", 5)
    assert connected.json["session_id"] == session and connected.json["previous_trace_id"] == first
    spans = receiver.wait_for(released(second), 10)
    acq = {x.xray_trace_id: x for x in spans if x.name == "connection_acquire" and x.xray_trace_id in (first, second)}
    assert acq[first].annotations["session_id"] == acq[second].annotations["session_id"] == session
    assert "previous_trace_id" not in acq[first].annotations
    assert acq[second].annotations["previous_trace_id"] == first
    assert acq[second].annotations["connection_sequence"] == 1

    trace = [x for x in spans if x.xray_trace_id == second]
    keys = set().union(*(x.annotations.keys() for x in trace))
    cost = len(keys) + EXCEPTION_ANNOTATION_COST * any(e["name"] == "exception" for x in trace for e in x.events)
    assert cost + EXCEPTION_ANNOTATION_COST <= ANNOTATION_BUDGET_SSE, sorted(keys)  # room for one exception
    assert all(ANNOTATION_KEY.fullmatch(k) for k in keys)
    assert all(isinstance(v, (str, int, float, bool)) for x in trace for v in x.annotations.values())

    bad = httpx.get(f"{sse_app.url}/api/v2/stream", params={"previous_trace_id": "not-a-trace"})
    assert bad.status_code == 400


def test_fr001_configuration_stream_needs_a_bearer_token_and_filters_by_its_tickers(sse_app, receiver, users_table,
                                                                                     items_table, user_pool):
    """FR-001: the configuration stream is traced like the global one (GetItem span with DynamoDB
    attributes); no token is 401, another user's configuration 404; only the configuration's tickers stream."""
    owner, stranger = user_pool.sign_in(), user_pool.sign_in()
    user, config, sym, other = owner.sub, "cfg1", ticker(), ticker()
    users_table.put_item(Item={**configuration_key(user, config), "tickers": [sym], "entity_type": "config"})
    url = f"{sse_app.url}/api/v2/configurations/{config}/stream"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {stranger.id_token}"}).status_code == 404
    root = new_root()
    with SSE(url, {"Authorization": f"Bearer {owner.id_token}", "X-Amzn-Trace-Id": trace_header(root, new_parent())}) as s:
        assert s.response.status_code == 200
        s.until(lambda e: e.event == "connected", 5)
        put_item(items_table, other)
        put_item(items_table, sym)
        ev = s.until(lambda e: e.event == "sentiment", 10)
        s.until(lambda e: e.event == "heartbeat", 5)
    assert ev.json["tickers"] == [sym] and not [e for e in s.events if e.event == "sentiment" and e is not ev]
    spans = receiver.wait_for(released(root), 10)
    get = next(x for x in spans if x.xray_trace_id == root and x.name == "DynamoDB.GetItem")
    assert get.attributes["db.system"] == "dynamodb"
    assert get.attributes["aws.dynamodb.table_names"] == [USERS.physical_name(ENVIRONMENT)]
    attributes = json.dumps([x.attributes for x in spans if x.xray_trace_id == root])
    assert owner.id_token not in attributes and user not in attributes  # neither the token nor the user in traces


def test_bad_filters_are_400(sse_app):
    assert httpx.get(f"{sse_app.url}/api/v2/stream", params={"resolutions": "2m"}).status_code == 400
    assert httpx.get(f"{sse_app.url}/api/v2/stream", params={"tickers": "not a ticker"}).status_code == 400


@pytest.fixture(scope="module")
def one_slot_app(app_factory, receiver):
    """Room for a single stream: one slot that a failed request kept would refuse every stream after it."""
    return app_factory(receiver.endpoint, SSE_MAX_CONNECTIONS="1")


def _hostile_requests(instance: str) -> list[tuple[str, dict, dict]]:
    """(why, headers, query) of requests with values that once failed a stream after it took its slot (a 500
    and a slot never given back) or before (a 500: ``str.isdigit`` accepts ``²``), and their kin."""
    return [
        ("Last-Event-ID of 4,301 digits", {"Last-Event-ID": f"{instance}:" + "7" * 4301}, {}),
        ("deadline not a number", {LAMBDA_CONTEXT_HEADER: '{"deadline": [1]}'}, {}),
        ("deadline a string", {LAMBDA_CONTEXT_HEADER: '{"deadline": "soon"}'}, {}),
        ("deadline of 5,000 digits", {LAMBDA_CONTEXT_HEADER: '{"deadline": 1' + "0" * 5000 + "}"}, {}),
        ("lambda context not JSON", {LAMBDA_CONTEXT_HEADER: "deadline=1"}, {}),
        ("connection_sequence ²", {}, {"connection_sequence": "²"}),
        ("connection_sequence of 5,000 digits", {}, {"connection_sequence": "1" * 5000}),
        ("previous_trace_id with non-ASCII digits", {}, {"previous_trace_id": "1-٥٧٥٩e988-bd862e3fe1be46a994272793"}),
    ]


def test_hostile_values_are_400_and_leak_no_slot(one_slot_app, users_table, user_pool):
    """Every request value is checked before a stream takes its slot: each hostile value is a 400 with its
    reason (on both stream endpoints), and afterwards the app's only slot still serves a normal stream,
    and the status endpoint reports no open connection once it closed."""
    url = one_slot_app.url
    status = httpx.get(f"{url}/api/v2/stream/status").json()
    user, config = user_pool.sign_in(), "hostile"
    users_table.put_item(Item={**configuration_key(user.sub, config), "tickers": [ticker()]})
    endpoints = [(f"{url}/api/v2/stream", {}),
                 (f"{url}/api/v2/configurations/{config}/stream", {"Authorization": f"Bearer {user.id_token}"})]
    for why, headers, query in _hostile_requests(status["instance"]):
        for endpoint, auth in endpoints:
            response = httpx.get(endpoint, headers={**auth, **headers}, params=query, timeout=10)
            assert response.status_code == 400, (why, endpoint, response.status_code, response.text[:200])
            assert response.json()["error"], why
    assert httpx.get(f"{url}/api/v2/stream/status").json()["connections"] == 0
    with SSE(f"{url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(new_root(), new_parent())}) as s:
        assert s.response.status_code == 200
        s.until(lambda e: e.event == "heartbeat", 5)
    end = time.monotonic() + 10
    while httpx.get(f"{url}/api/v2/stream/status").json()["connections"] and time.monotonic() < end:
        time.sleep(0.05)
    assert httpx.get(f"{url}/api/v2/stream/status").json()["connections"] == 0


#: The harness's heartbeat comes every 0.5 s; a poll of a DynamoDB that never answers holds for its read timeout
#: and retry (2 x 3 s, handlers/sse/aws.py). A gap under this bound is the heartbeat's own pace, five times over.
STALLED_POLL_MAX_GAP_S = 2.5


def test_issue10_heartbeats_keep_their_pace_while_dynamodb_does_not_answer(app_factory, receiver):
    """A poll waiting on DynamoDB must not hold the stream's heartbeat back: a proxy or a browser takes seconds of
    silence for a dead stream (before the fix, the heartbeat waited for the poll: about 6 s of silence here; 4.9 s
    under 20 churning clients and a CPU-bound neighbour in the churn test)."""
    hole = BlackHole()
    try:
        app = app_factory(receiver.endpoint, AWS_ENDPOINT_URL_DYNAMODB=hole.url)
        with SSE(f"{app.url}/api/v2/stream") as stream:
            stream.until(lambda e: e.event == "connected", 10)
            arrivals = [time.monotonic()]
            # Longer than one read timeout (3 s), shorter than the two attempts after which the poll fails and the
            # stream ends (about 6 s): the whole window is one stalled poll.
            while arrivals[-1] - arrivals[0] < 5.0:
                stream.until(lambda e: e.event == "heartbeat", 10)
                arrivals.append(time.monotonic())
        assert hole.saw_connection(), "the poll never reached the stalled DynamoDB: nothing was tested"
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        assert max(gaps) <= STALLED_POLL_MAX_GAP_S, f"no heartbeat for {max(gaps):.2f} s while a poll waited"
    finally:
        hole.close()
