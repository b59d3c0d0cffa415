"""The 7 silent-failure paths of D5, failed for real on the wire (FR-002, FR-005, FR-018, SC-004, SC-019).

Each failure must give (1) an error-marked subsegment named after the path, with the exception recorded,
(2) ``SilentFailure{FunctionName, FailurePath}`` in CloudWatch (moto), and the business flow must go on.
DynamoDB faults are injected as HTTP error responses that botocore parses and retries for real; the other
faults are real ones (a corrupt state item, a missing topic, a failing news API).
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contract import env, metrics
from contract.data import FAILURE_PATH_OWNER, FAILURE_PATHS, ITEMS_BY_STATUS, RESOLUTIONS
from standins.http_fakes import FakeAPI
from tests.handlers.conftest import SCHEDULED, H, by_name, inject_aws_error, lambda_name, marked, one, sns_event


def _silent_count(world, function: str, path: str) -> float:
    return world.metric_sum(metrics.SILENT_FAILURE_NAMESPACE, metrics.SILENT_FAILURE_METRIC,
                            {metrics.FUNCTION_DIMENSION: lambda_name(function), metrics.FAILURE_PATH_DIMENSION: path})


def _news(fakes) -> None:
    fakes.tiingo.add("AAPL", "Apple shares soar on record iPhone sales", "A great quarter")
    fakes.finnhub.add("MSFT", "Microsoft hit by outage", "Customers angry")


def _break(path: str, lam, world, fakes, monkeypatch):
    ddb = H.common.dynamodb().meta.client
    if path == "circuit_breaker_load":  # a corrupt state item: the load itself fails
        world.aws.client("dynamodb").put_item(TableName=world.env[env.USERS_TABLE], Item={
            "PK": {"S": "CIRCUIT#tiingo"}, "SK": {"S": "STATE"}, "state": {"S": "not-a-state"},
            "failure_count": {"S": "not-a-number"}})
    elif path == "circuit_breaker_save":
        fakes.finnhub.fail(503)  # the third consecutive failure opens the circuit: that transition must be saved
        inject_aws_error(H.common.client("dynamodb"), "PutItem", code="AccessDeniedException", status=400,
                         when=lambda r: b"CIRCUIT#" in r.body)
    elif path == "audit_trail":
        inject_aws_error(ddb, "PutItem", code="AccessDeniedException", status=400, when=lambda r: b"AUDIT#" in r.body)
    elif path == "notification_delivery":
        monkeypatch.setenv(env.NOTIFICATION_TOPIC_ARN, "arn:aws:sns:us-east-1:123456789012:no-such-topic")
    elif path == "self_healing_fetch":
        inject_aws_error(ddb, "Query", code="ValidationException", status=400,
                         when=lambda r: ITEMS_BY_STATUS.encode() in r.body)
    elif path == "parallel_fetcher_aggregate":
        fakes.tiingo.fail(500)
    elif path == "fanout_partial_write":
        inject_aws_error(H.common.client("dynamodb"), "TransactWriteItems", code="AccessDeniedException", status=400,
                         when=lambda r: b'"AAPL#5m"' in r.body)


def _run(path: str, lam, world, fakes):
    if path == "fanout_partial_write":
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        world.aws.client("dynamodb").put_item(TableName=world.env[env.ITEMS_TABLE], Item={
            "source_id": {"S": "tiingo#abc"}, "timestamp": {"S": now}, "status": {"S": "pending"}})
        return lam.invoke("analysis", sns_event({"source_id": "tiingo#abc", "timestamp": now, "ticker": "AAPL",
                                                 "text": "Apple delivers a superb, wonderful quarter"}),
                          expect_error=True)
    _news(fakes)
    if path == "circuit_breaker_save":
        for _ in range(H.ingestion.BREAKER.failure_threshold - 1):  # failures below the threshold write nothing
            lam.invoke("ingestion", SCHEDULED)
    return lam.invoke("ingestion", SCHEDULED)


@pytest.mark.parametrize("path", FAILURE_PATHS)
def test_each_silent_path_gives_error_subsegment_and_metric(path, lam, world, fakes, daemon, monkeypatch):
    """SC-004/SC-019/FR-002/FR-005: subsegment ``path`` error-marked with the exception; SilentFailure counted.

    Every path but one lets the business flow go on. ``fanout_partial_write`` is counted the same way, then the
    invocation fails so SNS retries: the analysis is written in one transaction, so nothing of it was written and
    the retry does it whole (nothing lost on retry)."""
    _break(path, lam, world, fakes, monkeypatch)
    inv = _run(path, lam, world, fakes)
    docs = inv.docs(daemon)
    failed = [d for d in by_name(docs, path) if marked(d)]
    assert len(failed) == 1, f"{path}: {[(d['name'], marked(d)) for d in by_name(docs, path)]}"
    sub = failed[0]
    assert sub["error"] is True and sub["cause"]["exceptions"][0]["type"]
    assert sub["annotations"]["failure_path"] == path
    assert _silent_count(world, FAILURE_PATH_OWNER[path], path) == 1.0  # the dimensions its alarm watches
    assert any(line.get("failure_path") == path and line["xray_trace_id"] == inv.root for line in lam.logs.lines)
    if path == "fanout_partial_write":
        assert isinstance(inv.error, H.analysis.FanoutPartialWrite) and one(docs, "## handler")["fault"] is True
        assert sub["annotations"]["ticker_symbol"] == "AAPL"
        assert sub["annotations"]["failed_buckets"] == ",".join(RESOLUTIONS)  # none was written
        assert sub["annotations"]["flush_reason"] == "retries_exhausted"  # not the FR-206 deadline
        assert world.aws.client("dynamodb").scan(TableName=world.env[env.TIMESERIES_TABLE])["Items"] == []
    else:  # the business flow went on: the invocation returned its result and nothing else was marked as failed
        assert inv.result is not None and one(docs, "## handler").get("fault") is None


def test_fallback_line_when_cloudwatch_refuses(lam, world, fakes, daemon, monkeypatch):
    """D5 (3) / FR-043: PutMetricData fails -> one JSON line per metric with the fallback field true; the silent
    path's subsegment is still marked."""
    dead_cloudwatch = FakeAPI(name="cloudwatch").start()
    try:
        dead_cloudwatch.fail(403, body={"__type": "AccessDeniedException", "message": "x" * 1000})
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", dead_cloudwatch.address)
        H.common.reset_clients()
        fakes.tiingo.fail(500)
        _news(fakes)
        inv = lam.invoke("ingestion", SCHEDULED)
        docs = inv.docs(daemon)
    finally:
        dead_cloudwatch.stop()
    assert marked(one(docs, "parallel_fetcher_aggregate"))
    fallback = [line for line in lam.logs.lines if line.get(metrics.METRIC_FALLBACK_FIELD) is True]
    silent = [line for line in fallback if line["metric_name"] == metrics.SILENT_FAILURE_METRIC]
    assert len(silent) == 1
    line = silent[0]
    assert line["failure_path"] == "parallel_fetcher_aggregate" and line["xray_trace_id"] == inv.root
    assert line["exception_type"] == "ClientError" and len(line["exception_message"]) <= metrics.FALLBACK_MESSAGE_LIMIT
    assert datetime.fromisoformat(line["timestamp"])
    # the application metrics of the same run fell back too, one line each, and the run still completed
    assert {f["metric_name"] for f in fallback} >= {metrics.NEW_ITEMS_INGESTED, metrics.HIGH_LATENCY_ALERT}
    assert inv.result["new_items"] == 1
    assert len(dead_cloudwatch.requests) >= 2


def test_no_fallback_line_when_cloudwatch_works(lam, world, fakes, daemon):
    """D5: the fallback line appears only when PutMetricData fails."""
    fakes.tiingo.fail(500)
    _news(fakes)
    lam.invoke("ingestion", SCHEDULED).docs(daemon)
    assert not [line for line in lam.logs.lines if metrics.METRIC_FALLBACK_FIELD in line]


def test_instrumentation_errors_propagate(lam, daemon):
    """FR-018: misuse of the facade inside a guarded block is not swallowed as a silent failure."""
    common = H.common

    @common.tracer.capture_lambda_handler
    def bad_annotation(event, context):
        with common.silent_failure("audit_trail"):
            common.annotate(user=None)

    @common.tracer.capture_lambda_handler
    def unknown_path(event, context):
        with common.silent_failure("audit_trail_persist"):
            pass

    inv = lam.invoke("ingestion", {}, handler=bad_annotation, expect_error=True)
    assert isinstance(inv.error, common.InstrumentationError) and "user" in str(inv.error)
    inv2 = lam.invoke("ingestion", {}, handler=unknown_path, expect_error=True)
    assert isinstance(inv2.error, common.InstrumentationError) and "audit_trail_persist" in str(inv2.error)
    docs = daemon.wait_for_names(inv.root, {"## bad_annotation"})
    assert one(docs, "## bad_annotation")["fault"] is True
    assert _silent_count(lam.world, "ingestion", "audit_trail") == 0.0  # not counted as a silent failure


def test_missing_function_name_is_loud(lam, monkeypatch):
    """FR-018: the FunctionName dimension cannot be guessed; a missing AWS_LAMBDA_FUNCTION_NAME is an error."""
    common = H.common

    @common.tracer.capture_lambda_handler
    def guarded(event, context):
        monkeypatch.delenv(env.LAMBDA_FUNCTION_NAME)
        with common.silent_failure("audit_trail"):
            raise RuntimeError("never reached")

    inv = lam.invoke("ingestion", {}, handler=guarded, expect_error=True)
    assert isinstance(inv.error, common.MissingEnvironmentError) and env.LAMBDA_FUNCTION_NAME in str(inv.error)
