"""The five buffered handlers' own behaviour, at the wire (US1, US7, FR-003/004, FR-028, SC-003, SC-011)."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from contract import env, metrics
from contract.data import RESOLUTIONS
from tests.handlers.conftest import (
    ENV_DIMS,
    IMPORT_SERVICE,
    SCHEDULED,
    H,
    api_event,
    by_name,
    inject_aws_error,
    marked,
    one,
    sns_event,
    sqs_event,
)


def _iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _put(world, table: str, **item) -> None:
    world.aws.client("dynamodb").put_item(TableName=world.env[table], Item={
        k: ({"L": [{"S": x} for x in v]} if isinstance(v, list) else {"N": str(v)} if isinstance(v, (int, float))
            else {"S": v}) for k, v in item.items()})


# -- ingestion --------------------------------------------------------------------------------------------------------
def test_ingestion_stores_dedups_publishes_and_counts(lam, fakes, daemon, world):
    """SHA-256 dedup with conditional writes, analysis + notification publishes, audit trail, NewItemsIngested."""
    _put(world, env.USERS_TABLE, PK="USER#u1", SK="CONFIG#c1", entity_type="CONFIGURATION", status="active",
         tickers=["TSLA"])
    fakes.tiingo.add("TSLA", "Tesla deliveries beat estimates", "Strong demand")
    fakes.finnhub.add("TSLA", "Tesla recalls vehicles", "Safety issue")
    first = lam.invoke("ingestion", SCHEDULED)
    assert first.result["new_items"] == 2 and first.result["duplicates"] == 0
    assert fakes.tiingo.requests[0].query["tickers"] == ["TSLA"]  # configuration wins over DEFAULT_TICKERS
    assert all("token" not in r.query for r in fakes.tiingo.requests + fakes.finnhub.requests)  # keys in headers
    second = lam.invoke("ingestion", SCHEDULED)
    assert second.result["new_items"] == 0 and second.result["duplicates"] == 2
    assert not [d for d in second.docs(daemon) if marked(d)]  # an ordinary duplicate is not an error (SC-002)
    published = world.messages(world.analysis_queue)
    assert sorted(m["ticker"] for m in published) == ["TSLA", "TSLA"] and all(m["source_id"] for m in published)
    assert world.messages(world.notification_queue) == [{"type": "new_items", "count": 2, "tickers": ["TSLA"]}]
    items = world.aws.client("dynamodb").scan(TableName=world.env[env.ITEMS_TABLE])["Items"]
    assert {i["status"]["S"] for i in items} == {"pending"} and len(items) == 2
    audits = world.aws.client("dynamodb").scan(TableName=world.env[env.USERS_TABLE],
                                               FilterExpression="entity_type = :a",
                                               ExpressionAttributeValues={":a": {"S": "AUDIT"}})["Items"]
    assert len(audits) == 2
    assert world.metric_sum(metrics.INGESTION_NAMESPACE, metrics.NEW_ITEMS_INGESTED, ENV_DIMS) == 2.0


def _circuit(world, source: str) -> dict:
    """The circuit's item in the users table, in the layout the contract documents (PK=CIRCUIT#<source>, SK=STATE)."""
    return world.aws.client("dynamodb").get_item(TableName=world.env[env.USERS_TABLE],
                                                 Key={"PK": {"S": f"CIRCUIT#{source}"}, "SK": {"S": "STATE"}}).get("Item")


def test_ingestion_circuit_opens_after_repeated_failures(lam, fakes, daemon, world):
    """Powertools' circuit breaker: 3 consecutive failures open tiingo's circuit (persisted on that transition only);
    the next run does not call it and does not count it as a fetch error."""
    fakes.tiingo.fail(500)
    for _ in range(3):
        lam.invoke("ingestion", SCHEDULED)
    calls = len(fakes.tiingo.requests)
    inv = lam.invoke("ingestion", SCHEDULED)
    assert len(fakes.tiingo.requests) == calls and inv.result["fetch_errors"] == []
    state = _circuit(world, "tiingo")
    assert state["state"]["S"] == "OPEN" and state["failure_count"]["N"] == "3"
    assert int(state["opened_at"]["N"]) + H.ingestion.BREAKER.recovery_timeout > datetime.now().timestamp()
    assert _circuit(world, "finnhub") is None  # a healthy source's runs write nothing


def test_ingestion_reads_the_previous_breakers_item_as_closed(lam, fakes, daemon, world):
    """An item the hand-written breaker left (failures, opened_until) is not a load failure: the source is fetched,
    and its circuit's next transition replaces the item with the utility's own."""
    _put(world, env.USERS_TABLE, PK="CIRCUIT#tiingo", SK="STATE", entity_type="CIRCUIT", failures=3,
         opened_until=str(datetime.now().timestamp() + 300))
    fakes.tiingo.fail(500)
    first = lam.invoke("ingestion", SCHEDULED)
    assert not [d for d in by_name(first.docs(daemon), "circuit_breaker_load") if marked(d)]
    assert first.result["fetch_errors"] == ["tiingo"]  # it was called
    for _ in range(2):
        lam.invoke("ingestion", SCHEDULED)
    assert _circuit(world, "tiingo")["state"]["S"] == "OPEN"


@pytest.mark.parametrize("healthy", [True, False])
def test_ingestion_circuit_half_open_probe_closes_or_reopens(healthy, lam, fakes, world):
    """After the recovery timeout one run probes the source: a success closes the circuit, a failure reopens it."""
    fakes.tiingo.fail(500)
    for _ in range(3):
        lam.invoke("ingestion", SCHEDULED)
    long_ago = int(datetime.now().timestamp()) - H.ingestion.BREAKER.recovery_timeout - 1
    world.aws.client("dynamodb").update_item(
        TableName=world.env[env.USERS_TABLE], Key={"PK": {"S": "CIRCUIT#tiingo"}, "SK": {"S": "STATE"}},
        UpdateExpression="SET opened_at = :t", ExpressionAttributeValues={":t": {"N": str(long_ago)}})
    if healthy:
        fakes.tiingo.heal()
    calls = len(fakes.tiingo.requests)
    probe = lam.invoke("ingestion", SCHEDULED)
    assert len(fakes.tiingo.requests) == calls + 1  # the probe
    assert probe.result["fetch_errors"] == ([] if healthy else ["tiingo"])
    state = _circuit(world, "tiingo")
    assert state["state"]["S"] == ("CLOSED" if healthy else "OPEN")
    if not healthy:
        assert int(state["opened_at"]["N"]) > long_ago  # a new recovery window


def test_ingestion_self_heals_items_pending_over_an_hour(lam, fakes, world):
    _put(world, env.ITEMS_TABLE, source_id="tiingo#old", timestamp=_iso(-timedelta(hours=3)), status="pending",
         ticker="AAPL", text="Old news", ingested_at=_iso(-timedelta(hours=2)))
    inv = lam.invoke("ingestion", SCHEDULED)
    assert inv.result["self_healed"] == 1
    assert [m["source_id"] for m in world.messages(world.analysis_queue)] == ["tiingo#old"]


def test_ingestion_high_latency_alert(lam, fakes, world, monkeypatch):
    """HighLatencyAlert = 1 when a news-API fetch exceeds the threshold (30 s in production, shortened here)."""
    monkeypatch.setattr(H.ingestion, "HIGH_LATENCY_SECONDS", 0.2)
    fakes.finnhub.delay(0.3)
    lam.invoke("ingestion", SCHEDULED)
    assert world.metric_sum(metrics.INGESTION_NAMESPACE, metrics.HIGH_LATENCY_ALERT, ENV_DIMS) == 1.0


@pytest.mark.parametrize("function,event,needle", [
    ("ingestion", ["not", "an", "event"], "EventBridge scheduled event"),
    ("ingestion", {"detail-type": "Object Created"}, "Scheduled Event"),
    ("ingestion", sqs_event("tick"), "EventBridge scheduled event"),
    ("ingestion", sns_event({"type": "tick"}), "EventBridge scheduled event"),
    ("analysis", sns_event("{not json"), "Invalid JSON"),
    ("analysis", sns_event({"ticker": "AAPL"}), "source_id: Field required"),
    ("analysis", sns_event({"source_id": "s#1", "timestamp": "now", "ticker": "AAPL", "text": "x"}), "not ISO-8601"),
    ("analysis", {"Records": [{"Sns": {"Message": "{}"}}]}, "EventSource: Field required"),
    ("analysis", {"Records": []}, "the list is empty"),
    ("metrics", "tick", "EventBridge scheduled event"),
    ("metrics", sqs_event("tick"), "EventBridge scheduled event"),
    ("metrics", {**SCHEDULED, "source": "aws.s3", "detail-type": "Object Created"}, "'Object Created' from 'aws.s3'"),
    ("notification", sns_event({"type": "new_items", "tickers": [7]}), "tickers.0: Input should be a valid string"),
    ("notification", {"hello": 1}, "unrecognised trigger"),
    ("dashboard", {"foo": "bar"}, "API Gateway REST proxy event"),
])
def test_malformed_event_is_a_clear_error(function, event, needle, lam, daemon):
    """A bad event raises a clear error (so retries and the DLQ keep it), visible in the trace and logs."""
    inv = lam.invoke(function, event, expect_error=True)
    assert needle in str(inv.error)
    handler_doc = one(inv.docs(daemon), "## handler")
    assert handler_doc["fault"] is True and handler_doc["cause"]["exceptions"][0]["type"] == type(inv.error).__name__
    assert any(line["level"] == "ERROR" and line["xray_trace_id"] == inv.root for line in lam.logs.lines)


# -- analysis ---------------------------------------------------------------------------------------------------------
def test_analysis_scores_updates_and_fans_out(lam, world, daemon):
    ts = _iso()
    for sid, _text in (("s#1", "Wonderful, fantastic results, great success!"), ("s#2", "Terrible losses, awful crash")):
        _put(world, env.ITEMS_TABLE, source_id=sid, timestamp=ts, status="pending")
    msgs = [{"source_id": "s#1", "timestamp": ts, "ticker": "AAPL", "text": "Wonderful, fantastic results, great success!"},
            {"source_id": "s#2", "timestamp": ts, "ticker": "AAPL", "text": "Terrible losses, awful crash"}]
    inv = lam.invoke("analysis", sns_event(*msgs))
    assert inv.result == {"analyzed": 2, "skipped": 0}
    items = {i["source_id"]["S"]: i
             for i in world.aws.client("dynamodb").scan(TableName=world.env[env.ITEMS_TABLE])["Items"]}
    assert items["s#1"]["sentiment"]["S"] == "positive" and items["s#2"]["sentiment"]["S"] == "negative"
    assert {i["status"]["S"] for i in items.values()} == {"analyzed"}
    series = world.aws.client("dynamodb").scan(TableName=world.env[env.TIMESERIES_TABLE])["Items"]
    assert sorted(s["pk"]["S"].split("#")[1] for s in series) == sorted(RESOLUTIONS)
    assert {s["count"]["N"] for s in series} == {"2"} and {s["positive_count"]["N"] for s in series} == {"1"}
    docs = inv.docs(daemon)
    # one transaction per message: the analyzed mark and its 8 buckets together
    handlers_calls = [d["aws"]["operation"] for d in by_name(docs, "dynamodb") if d["aws"]["operation"] != "Scan"]
    assert handlers_calls == ["TransactWriteItems"] * 2  # (the Scans are this test's own, on the same trace header)
    # redelivery: the transaction's condition on status=pending makes it a no-op, nothing counted twice
    again = lam.invoke("analysis", sns_event(msgs[0]))
    assert again.result == {"analyzed": 0, "skipped": 1}
    series = world.aws.client("dynamodb").scan(TableName=world.env[env.TIMESERIES_TABLE])["Items"]
    assert {s["count"]["N"] for s in series} == {"2"}


def test_analysis_batch_with_a_bad_record_changes_nothing(lam, world):
    """Validation before work: a batch with one bad record raises before any item is touched; AnalysisErrors."""
    ts = _iso()
    _put(world, env.ITEMS_TABLE, source_id="s#1", timestamp=ts, status="pending")
    inv = lam.invoke("analysis", sns_event({"source_id": "s#1", "timestamp": ts, "ticker": "AAPL", "text": "good"},
                                           {"ticker": "AAPL"}), expect_error=True)
    assert isinstance(inv.error, H.analysis.MalformedMessage)
    item = world.aws.client("dynamodb").scan(TableName=world.env[env.ITEMS_TABLE])["Items"][0]
    assert item["status"]["S"] == "pending"
    assert world.metric_sum(metrics.APP_NAMESPACE, metrics.ANALYSIS_ERRORS, ENV_DIMS) == 1.0


# -- dashboard --------------------------------------------------------------------------------------------------------
def test_dashboard_health_items_timeseries_and_reasons(lam, world, daemon):
    """US1: DynamoDB subsegments under the route; 4xx with a reason on bad input."""
    _put(world, env.ITEMS_TABLE, source_id="s#1", timestamp=_iso(), status="analyzed", sentiment="positive", tag="AAPL",
         ticker="AAPL", title="Up", score="0.9")
    health = lam.invoke("dashboard", api_event("/health"))
    assert health.result["statusCode"] == 200 and json.loads(health.result["body"]) == {"status": "ok"}
    items = lam.invoke("dashboard", api_event("/api/v2/items", {"sentiment": "positive", "limit": "5"}))
    body = json.loads(items.result["body"])
    assert items.result["statusCode"] == 200 and body["count"] == 1 and body["items"][0]["ticker"] == "AAPL"
    docs = items.docs(daemon)
    route = [d for d in docs if d["name"].endswith("list_items")][0]
    query = one(docs, "dynamodb")
    assert query["parent_id"] == route["id"] and query["aws"]["operation"] == "Query"
    assert query["aws"]["table_name"] == world.env[env.ITEMS_TABLE]
    for event, reason in ((api_event("/api/v2/items", {"sentiment": "ecstatic"}), "query.sentiment: Input should be"),
                          (api_event("/api/v2/items", {"sentiment": "positive", "limit": "0"}), "query.limit"),
                          (api_event("/api/v2/items", {"sentiment": "positive", "limit": "\u00b2"}), "query.limit"),
                          (api_event("/api/v2/items", {}), "exactly one of"),
                          (api_event("/api/v2/timeseries/AAPL", {"resolution": "2m"}), "query.resolution"),
                          (api_event("/api/v2/timeseries/AAPL-B"), "path.ticker")):
        resp = lam.invoke("dashboard", event).result
        assert resp["statusCode"] == 400 and reason in json.loads(resp["body"])["message"], resp
    series = lam.invoke("dashboard", api_event("/api/v2/timeseries/AAPL", {"resolution": "1h"})).result
    assert series["statusCode"] == 200 and json.loads(series["body"])["buckets"] == []


# -- metrics ----------------------------------------------------------------------------------------------------------
def test_metrics_counts_stuck_items_with_explicit_subsegments(lam, world, daemon):
    """FR-003/FR-004/US7/SC-003: query and put_metric_data in explicit subsegments, each with its aws child."""
    _put(world, env.ITEMS_TABLE, source_id="a", timestamp=_iso(-timedelta(minutes=10)), status="pending")
    _put(world, env.ITEMS_TABLE, source_id="b", timestamp=_iso(-timedelta(minutes=1)), status="pending")
    _put(world, env.ITEMS_TABLE, source_id="c", timestamp=_iso(-timedelta(minutes=30)), status="analyzed")
    inv = lam.invoke("metrics", SCHEDULED)
    assert inv.result == {"stuck_items": 1}
    docs = inv.docs(daemon)
    query, put = one(docs, "query_stuck_items"), one(docs, "put_stuck_items_metric")
    assert one(docs, "dynamodb")["parent_id"] == query["id"] and query["annotations"]["stuck_items"] == 1
    assert one(docs, "monitoring")["parent_id"] == put["id"]
    assert world.metric_sum(metrics.APP_NAMESPACE, metrics.STUCK_ITEMS, ENV_DIMS) == 1.0
    assert world.metric_sum(metrics.APP_NAMESPACE, metrics.EMISSION_HEARTBEAT, ENV_DIMS) == 1.0


def test_metrics_query_failure_is_error_marked_and_counted(lam, world, daemon):
    """US7: a failing query marks its subsegment, puts MetricsLambdaErrors, and fails the invocation."""
    inject_aws_error(H.common.dynamodb().meta.client, "Query", code="AccessDeniedException", status=400)
    inv = lam.invoke("metrics", SCHEDULED, expect_error=True)
    docs = inv.docs(daemon)
    assert marked(one(docs, "query_stuck_items")) and marked(one(docs, "dynamodb"))
    assert world.metric_sum(metrics.APP_NAMESPACE, metrics.METRICS_LAMBDA_ERRORS, ENV_DIMS) == 1.0


def test_metrics_put_failure_is_error_marked_with_fallback(lam, daemon, monkeypatch):
    from standins.http_fakes import FakeAPI  # noqa: PLC0415
    dead = FakeAPI(name="cloudwatch").start()
    try:
        dead.fail(403)
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", dead.address)
        H.common.reset_clients()
        inv = lam.invoke("metrics", SCHEDULED, expect_error=True)
    finally:
        dead.stop()
    assert isinstance(inv.error, H.metrics.MetricsEmissionError)
    assert marked(one(inv.docs(daemon), "put_stuck_items_metric"))
    assert {line["metric_name"] for line in lam.logs.lines if line.get(metrics.METRIC_FALLBACK_FIELD)} == {
        metrics.STUCK_ITEMS, metrics.EMISSION_HEARTBEAT}


# -- notification -----------------------------------------------------------------------------------------------------
def test_sendgrid_send_is_an_explicit_subsegment(lam, fakes, daemon):
    """FR-028 / SC-011: status, duration, recipient count; no addresses in the trace."""
    inv = lam.invoke("notification", {"type": "direct", "recipients": ["a@example.com", "b@example.com"],
                                      "subject": "Hi", "text": "Body"})
    assert inv.result == {"trigger": "direct", "sent": 2}
    mail = fakes.sendgrid.sent[0]
    assert len(mail["personalizations"]) == 2 and mail["from"]["email"] == "alerts@test.sentiment.example.com"
    docs = inv.docs(daemon)
    sub = one(docs, "sendgrid_send")
    assert sub["namespace"] == "remote" and sub["http"]["response"]["status"] == 202
    assert sub["annotations"]["http_status"] == 202 and sub["annotations"]["recipient_count"] == 2
    assert sub["annotations"]["duration_ms"] > 0 and sub["end_time"] > sub["start_time"]
    assert "example.com" not in json.dumps(docs).replace("sentiment.example.com", "")


def test_sendgrid_failure_is_error_marked_and_raised(lam, fakes, daemon):
    fakes.sendgrid.fail(500)
    inv = lam.invoke("notification", {"type": "direct", "recipients": ["a@example.com"], "subject": "Hi"},
                     expect_error=True)
    assert isinstance(inv.error, H.notification.SendFailed) and "500" in str(inv.error)
    sub = one(inv.docs(daemon), "sendgrid_send")
    assert sub["fault"] is True and sub["http"]["response"]["status"] == 500
    assert sub["metadata"][IMPORT_SERVICE]["error"]["status"] == 500
    fakes.sendgrid.fail(401)
    inv = lam.invoke("notification", {"type": "direct", "recipients": ["a@example.com"], "subject": "Hi"},
                     expect_error=True)
    assert one(inv.docs(daemon), "sendgrid_send")["error"] is True


def test_notification_sns_trigger_mails_matching_subscribers(lam, fakes, world):
    _put(world, env.USERS_TABLE, PK="USER#u1", SK="ALERT#1", entity_type="ALERT", status="active",
         email="tsla@example.com", tickers=["TSLA"])
    _put(world, env.USERS_TABLE, PK="USER#u2", SK="ALERT#2", entity_type="ALERT", status="active",
         email="aapl@example.com", tickers=["AAPL"])
    inv = lam.invoke("notification", sns_event({"type": "new_items", "count": 1, "tickers": ["TSLA"]}))
    assert inv.result == {"trigger": "sns", "sent": 1}
    assert [p["to"][0]["email"] for p in fakes.sendgrid.sent[0]["personalizations"]] == ["tsla@example.com"]
