"""The canary against a moto server: trace and metric round trips, out-of-band reports (US6, US9, US11)."""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from standins.moto_server import MotoServer

CANARY_DIR = Path(__file__).resolve().parents[2] / "handlers" / "canary"


@pytest.fixture(scope="module")
def aws():
    with MotoServer() as standin:
        yield standin


@pytest.fixture
def canary(aws, monkeypatch):
    """The canary module with the environment the program gives it, pointed at moto."""
    aws.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.address)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/test/sentiment/canary/state", Value="{}", Type="String")
    import boto3
    west = boto3.client("sns", region_name="us-west-2", endpoint_url=aws.address)
    topic = west.create_topic(Name="test-sentiment-out-of-band")["TopicArn"]
    sqs = boto3.client("sqs", region_name="us-west-2", endpoint_url=aws.address)
    queue = sqs.create_queue(QueueName="oob")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    west.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    for key, value in {"CANARY_NAMESPACE": "SentimentAnalyzer/Canary", "CANARY_STATE_PARAMETER": "/test/sentiment/canary/state",
                       "OUT_OF_BAND_TOPIC_ARN": topic, "CANARY_BATCH_SIZE": "5", "ENVIRONMENT": "test"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CANARY_HEALTH_URL", raising=False)
    monkeypatch.syspath_prepend(str(CANARY_DIR))
    for name in ("app", "canary_checks"):
        sys.modules.pop(name, None)
    import app  # noqa: PLC0415  (the Lambda's own module layout: app.py beside canary_checks.py)

    def out_of_band() -> list[dict]:
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in msgs]

    app.out_of_band = out_of_band
    yield app
    sys.modules.pop("app", None)


def metric_stats(aws, name: str) -> tuple[float, float]:
    """(sample count, minimum) of a canary metric over the last hour."""
    cw = aws.client("cloudwatch")
    import datetime as dt
    now = dt.datetime.now(dt.timezone.utc)
    resp = cw.get_metric_statistics(Namespace="SentimentAnalyzer/Canary", MetricName=name,
                                     Dimensions=[{"Name": "Environment", "Value": "test"}],
                                     StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(hours=1),
                                     Period=60, Statistics=["Minimum", "Maximum", "SampleCount"])
    points = resp["Datapoints"]
    return sum(p["SampleCount"] for p in points), min((p["Minimum"] for p in points), default=None)


def test_fr019_fr049_two_runs_round_trip_traces_and_metrics(canary, aws):
    first = canary.handler({}, None)
    assert first["healthy"] and first["run"] == 1 and "trace_completeness" not in first
    ids = json.loads(aws.client("ssm").get_parameter(Name="/test/sentiment/canary/state")["Parameter"]["Value"])["trace_ids"]
    assert len(ids) == 5 and all(i.startswith("1-") for i in ids)
    traces = aws.client("xray").batch_get_traces(TraceIds=ids[:5])["Traces"]
    doc = json.loads(traces[0]["Segments"][0]["Document"])
    assert doc["annotations"]["synthetic"] is True  # the production group excludes it (FR-185)
    second = canary.handler({}, None)
    assert second["healthy"], second
    assert second["trace_completeness"] == 1.0 and second["metric_roundtrip"] is True
    assert metric_stats(aws, "CanaryHealth") == (2, 1.0)
    assert canary.out_of_band() == []


def test_fr036_sc014_lost_traces_lower_completeness_and_go_out_of_band(canary, aws):
    canary.handler({}, None)
    ssm = aws.client("ssm")
    state = json.loads(ssm.get_parameter(Name="/test/sentiment/canary/state")["Parameter"]["Value"])
    # Two of five traces never reached X-Ray (as when the daemon or PutTraceSegments drops them).
    state["trace_ids"] = state["trace_ids"][:3] + ["1-00000000-000000000000000000000001", "1-00000000-000000000000000000000002"]
    ssm.put_parameter(Name="/test/sentiment/canary/state", Value=json.dumps(state), Type="String", Overwrite=True)
    report = canary.handler({}, None)
    assert report["trace_completeness"] == pytest.approx(0.6) and report["traces_lost"] == 2
    assert not report["healthy"]
    assert metric_stats(aws, "TraceCompletenessRatio") == (1, pytest.approx(0.6))
    (published,) = canary.out_of_band()
    assert published["failures"][0]["check"] == "trace_completeness"


def test_fr049_sc021_metric_pipeline_failure_detected(canary, aws):
    canary.handler({}, None)
    ssm = aws.client("ssm")
    state = json.loads(ssm.get_parameter(Name="/test/sentiment/canary/state")["Parameter"]["Value"])
    state["probe_timestamp"] -= 3600  # the previous probe is nowhere in CloudWatch
    ssm.put_parameter(Name="/test/sentiment/canary/state", Value=json.dumps(state), Type="String", Overwrite=True)
    report = canary.handler({}, None)
    assert report["metric_roundtrip"] is False and not report["healthy"]
    assert [f["check"] for f in canary.out_of_band()[0]["failures"]] == ["metric_roundtrip"]


def test_fr050_unreachable_api_health_reported_out_of_band(canary, aws, monkeypatch):
    class Down(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Down)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("CANARY_HEALTH_URL", f"http://127.0.0.1:{server.server_port}/health")
        report = canary.handler({}, None)
    finally:
        server.shutdown()
    assert report["failures"][0]["check"] == "api_health" and not report["healthy"]
    assert canary.out_of_band()[0]["failures"][0]["check"] == "api_health"


def test_missing_environment_is_a_clear_error(canary, monkeypatch):
    monkeypatch.delenv("CANARY_STATE_PARAMETER")
    with pytest.raises(RuntimeError, match="CANARY_STATE_PARAMETER is not set"):
        canary.handler({}, None)
