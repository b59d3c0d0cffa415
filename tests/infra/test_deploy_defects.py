"""Defects a first ``pulumi up`` would meet, each caught here before it deploys.

Every test failed on the code before its fix; what AWS requires is recorded with its source in
docs/aws-facts.md.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json

import pytest

from components.api import DashboardApi, DashboardApiArgs
from components.streaming_lambda import ImageSource, StreamingTracedLambda, StreamingTracedLambdaArgs
from components.traced_lambda import TracedLambda, TracedLambdaArgs
from contract.alarms import CLASS_TAG, TREAT_MISSING_DATA, AlarmClass
from contract.api import ROUTES, Route
from contract.metrics import APP_EXPORT_FAILURES, COLLECTOR_EXPORT_FAILURES, METRIC_FALLBACK_METRIC, fallback_namespace
from tests.infra.conftest import StackView, is_unknown

LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:18"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alarms"
PERMISSION = "aws:lambda/permission:Permission"


def test_fr015_none_auth_function_url_grants_both_public_permissions(prod: StackView):
    """An auth-type NONE URL answers 403 until the resource policy grants the public InvokeFunctionUrl (with the
    NONE auth condition) and, for URLs created since October 2025, InvokeFunction limited to URL invocations."""
    url = prod.one("aws:lambda/functionUrl:FunctionUrl")
    assert url.inputs["authorizationType"] == "NONE"
    (fn,) = prod.depends_on(url, "functionName")
    grants = [p.inputs for p in prod.of_type(PERMISSION) if fn.urn in p.property_dependencies.get("function", [])
              and p.inputs["principal"] == "*"]
    by_action = {g["action"]: g for g in grants}
    assert set(by_action) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert by_action["lambda:InvokeFunctionUrl"]["functionUrlAuthType"] == "NONE"
    # without this condition anyone could call the Invoke API directly, bypassing the URL
    assert by_action["lambda:InvokeFunction"]["invokedViaFunctionUrl"] is True


POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc"


def _api(run_component, origin: str = "https://a.example.com", routes=ROUTES,
         invoke_arn: str = "arn:aws:apigateway:us-east-1:lambda:path/fn") -> str:
    view = run_component(lambda: DashboardApi("api", DashboardApiArgs(
        environment="team", function_name="fn", function_invoke_arn=invoke_arn, alarm_topic_arn=TOPIC,
        allow_origins=[origin], user_pool_arn=POOL, routes=routes)), preview=False)
    return view.one("aws:apigateway/deployment:Deployment").inputs["triggers"]["redeployment"]


def test_api_deployment_is_redeployed_when_its_routes_change(run_component):
    """A stage serves the deployment it was given: a change to methods, integrations, authorization or CORS
    must change the deployment's triggers, or it never reaches the API."""
    first = _api(run_component)
    assert first == _api(run_component)  # stable: no redeploy on every run
    assert first != _api(run_component, origin="https://b.example.com")
    assert first != _api(run_component, invoke_arn="arn:aws:apigateway:us-east-1:lambda:path/g")
    assert first != _api(run_component, routes=ROUTES + (Route("GET", "/api/v2/extra", authorized=False),))
    opened = tuple(Route(r.method, r.path, authorized=False) for r in ROUTES)
    assert first != _api(run_component, routes=opened)


def test_d6_metric_fallback_is_an_errors_alarm_so_idle_periods_do_not_page(stack: StackView):
    """A metric filter emits its default value only for periods with log events: an idle hour is missing data,
    so the fallback count must treat missing data as healthy."""
    fallbacks = [a for a in stack.alarms() if a.inputs.get("metricName") == METRIC_FALLBACK_METRIC]
    assert len(fallbacks) == 2
    for alarm in fallbacks:
        assert alarm.inputs["tags"][CLASS_TAG] == AlarmClass.ERRORS
        assert alarm.inputs["treatMissingData"] == TREAT_MISSING_DATA[AlarmClass.ERRORS] != "breaching"


def _function_with_requirements(tmp_path, vendored: bool, stale: bool = False):
    code, common = tmp_path / "fn", tmp_path / "common"
    code.mkdir(), common.mkdir()
    (code / "app.py").write_text("import vaderSentiment\n\ndef handler(event, context):\n    return {}\n")
    (code / "requirements.txt").write_text("vaderSentiment==3.3.2\n")
    (common / "__init__.py").write_text("")
    build = tmp_path / "build"
    if vendored:
        build.mkdir()
        (build / "vaderSentiment").mkdir()
        (build / "vaderSentiment" / "__init__.py").write_text("")
        digest = hashlib.sha256((code / "requirements.txt").read_bytes()).hexdigest()
        (build / ".requirements.sha256").write_text("0" * 64 if stale else digest)
    return lambda: TracedLambda("fn", TracedLambdaArgs(
        environment="team", function="orders", code_dir=code, common_dir=common, vendored_dir=build,
        alarm_topic_arn=TOPIC, powertools_layer_arn=LAYER))


@pytest.mark.parametrize("stale", [False, True], ids=["not-vendored", "vendored-from-other-requirements"])
def test_deploy_refuses_a_function_without_its_packages(run_component, tmp_path, stale):
    """Deployed without its third-party packages, every invocation fails with an ImportError: `pulumi up` is
    refused (a preview only warns, so the stack can still be reviewed)."""
    build = _function_with_requirements(tmp_path, vendored=stale, stale=stale)
    run_component(build, preview=True)
    with pytest.raises(Exception, match="scripts/build-lambdas"):
        run_component(build, preview=False)


def test_deploy_packages_vendored_dependencies_without_the_stamp(run_component, tmp_path):
    view = run_component(_function_with_requirements(tmp_path, vendored=True), preview=False)
    assets = view.functions()[0].inputs["code"].assets
    assert "vaderSentiment/__init__.py" in assets and ".requirements.sha256" not in assets


def test_sse_url_permissions_exist_for_a_component_alone(run_component, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    image = ImageSource(context_dir=tmp_path, dockerfile=tmp_path / "Dockerfile", version="1")
    view = run_component(lambda: StreamingTracedLambda("s", StreamingTracedLambdaArgs(
        environment="team", function="stream", image=image, alarm_topic_arn=TOPIC)))
    actions = sorted(p.inputs["action"] for p in view.of_type(PERMISSION) if p.inputs["principal"] == "*")
    assert actions == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    assert not any(is_unknown(p.inputs["principal"]) for p in view.of_type(PERMISSION))


def test_url_5xx_alarm_watches_the_metric_lambda_publishes(prod: StackView):
    """AWS/Lambda publishes Url5xxCount for function URLs; an alarm on any other name never gets data."""
    names = {a.inputs.get("metricName") for a in prod.alarms() if a.inputs.get("namespace") == "AWS/Lambda"}
    assert "Url5xxCount" in names and "Url5xxError" not in names


def test_sns_active_tracing_has_the_xray_resource_policy(prod_deployed: StackView):
    """Active tracing turned on through the API (as Pulumi does) writes no segment until X-Ray's resource policy
    lets SNS do so, for this account's topics only."""
    topics = [t for t in prod_deployed.of_type("aws:sns/topic:Topic") if t.inputs.get("tracingConfig") == "Active"]
    assert topics
    (policy,) = prod_deployed.of_type("aws:xray/resourcePolicy:ResourcePolicy")
    (statement,) = json.loads(policy.inputs["policyDocument"])["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert "xray:PutTraceSegments" in statement["Action"]
    pattern = statement["Condition"]["ArnLike"]["aws:SourceArn"]
    account = statement["Condition"]["StringEquals"]["aws:SourceAccount"]
    assert account.isdigit()
    for topic in topics:
        arn = f"arn:aws:sns:us-east-1:{account}:{topic.inputs['name']}"
        assert fnmatch.fnmatchcase(arn, pattern), (arn, pattern)


def test_reliability_subscription_dlqs_are_alarmed(prod: StackView):
    """Messages SNS could not deliver to analysis or notification wait in a DLQ: someone must be told."""
    for dlq in prod.of_type("aws:sqs/queue:Queue"):
        watched = [a for a in prod.alarms() if a.inputs.get("metricName") == "ApproximateNumberOfMessagesVisible"
                   and dlq.urn in a.property_dependencies.get("dimensions", [])]
        assert watched, f"{dlq.inputs['name']} has no depth alarm"


def test_one_minute_canary_schedule_is_valid(run_component, code_dir):
    """EventBridge rejects 'rate(1 minutes)'."""
    from components.canary import Canary, CanaryArgs
    code, common = code_dir
    view = run_component(lambda: Canary("c", CanaryArgs(
        environment="team", code_dir=code, common_dir=common, powertools_layer_arn=LAYER, alarm_topic_arn=TOPIC,
        out_of_band_topic_arn=TOPIC, health_url="https://x.example.com/health", interval_minutes=1)))
    assert view.one("aws:cloudwatch/eventRule:EventRule").inputs["scheduleExpression"] == "rate(1 minute)"


@pytest.mark.parametrize("key", ["_HANDLER", "TZ", "AWS_REGION", "LAMBDA_TASK_ROOT"])
def test_reserved_lambda_variables_are_refused(tmp_path, key):
    with pytest.raises(ValueError, match="reserved by Lambda"):
        TracedLambdaArgs(environment="team", function="orders", code_dir=tmp_path, alarm_topic_arn=TOPIC,
                         powertools_layer_arn=LAYER, env_vars={key: "x"})


def test_alarm_topic_admits_only_this_accounts_alarms_and_budgets(prod_deployed: StackView):
    """Without aws:SourceAccount/aws:SourceArn any account's alarm or budget that names the topic could publish
    to it and page on-call (docs/aws-facts.md PRM-16: the Budgets page's statement; the same for CloudWatch)."""
    (topic_policy,) = [p for p in prod_deployed.of_type("aws:sns/topicPolicy:TopicPolicy") if "alarms" in p.name]
    doc = json.loads(topic_policy.inputs["policy"])
    by_service = {s["Principal"]["Service"]: s for s in doc["Statement"]}
    assert set(by_service) == {"cloudwatch.amazonaws.com", "budgets.amazonaws.com"}
    for service, stmt in by_service.items():
        account = stmt["Condition"]["StringEquals"]["aws:SourceAccount"]
        assert account.isdigit() and len(account) == 12, (service, account)
        source = stmt["Condition"]["ArnLike"]["aws:SourceArn"]
        prefix = "arn:aws:cloudwatch:" if service.startswith("cloudwatch") else "arn:aws:budgets::"
        assert source.startswith(prefix) and f":{account}:" in source, source


def test_dlq_depth_alarms_keep_their_state_when_sqs_stops_reporting(prod: StackView):
    """SQS reports an idle queue's metrics for only about six hours (docs/aws-facts.md SQS-2): a notBreaching
    DLQ alarm returns to OK while the failed event still waits. Every DLQ-depth alarm ignores missing data."""
    dlq_alarms = [a.inputs for a in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                  if a.inputs.get("metricName") == "ApproximateNumberOfMessagesVisible"]
    assert len(dlq_alarms) >= 4  # the async functions' DLQs and the SNS subscriptions' DLQs
    assert {a["treatMissingData"] for a in dlq_alarms} == {TREAT_MISSING_DATA[AlarmClass.BACKLOG]} == {"ignore"}
    assert {a["tags"][CLASS_TAG] for a in dlq_alarms} == {AlarmClass.BACKLOG.value}
def _counted(pattern: str, lines: tuple[str, ...]) -> set[str]:
    """The lines CloudWatch Logs' filter ``pattern`` selects, asked of moto's Logs (a quoted term is a phrase match)."""
    import time

    import boto3
    from moto import mock_aws

    now = int(time.time() * 1000)  # Logs refuses events older than its retention window
    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        logs.create_log_group(logGroupName="g")
        logs.create_log_stream(logGroupName="g", logStreamName="s")
        logs.put_log_events(logGroupName="g", logStreamName="s",
                            logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)])
        return {e["message"] for e in logs.filter_log_events(logGroupName="g", filterPattern=pattern)["events"]}


def test_issue9_collector_export_failures_are_counted_and_alarmed(stack: StackView):
    """Issue 9, lost SSE spans go unnoticed: the collector config named a metric filter nobody declared. Now the
    streaming function's log group has a filter counting the collector's export-failure lines, with default 0,
    and an errors-class alarm with actions watches its count."""
    from offline.e2e import collector_log

    (fn,) = [f for f in stack.functions() if f.urn in stack.streaming_function_urns()]
    group = f"/aws/lambda/{fn.inputs['name']}"
    (flt,) = [f for f in stack.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
              if f.inputs["logGroupName"] == group
              and f.inputs["metricTransformation"]["name"] == COLLECTOR_EXPORT_FAILURES]
    transform = flt.inputs["metricTransformation"]
    assert transform["name"] == COLLECTOR_EXPORT_FAILURES and transform["defaultValue"] == "0"
    assert transform["namespace"] == fallback_namespace(fn.inputs["name"])
    (alarm,) = [a for a in stack.alarms() if a.inputs.get("metricName") == COLLECTOR_EXPORT_FAILURES]
    assert alarm.inputs["namespace"] == transform["namespace"] and alarm.inputs["alarmActions"]
    assert alarm.inputs["tags"][CLASS_TAG] == AlarmClass.ERRORS
    assert alarm.inputs["treatMissingData"] == TREAT_MISSING_DATA[AlarmClass.ERRORS]
    counted = _counted(flt.inputs["pattern"], collector_log.EXPORT_FAILURES + collector_log.HEALTHY)
    assert counted == set(collector_log.EXPORT_FAILURES)


_APP_EXPORT_FAILURE = r"""
import socket
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from handlers.sse.telemetry import CountedExporter

with socket.socket() as s:  # a port nobody listens on: connection refused, at once
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
span = TracerProvider().get_tracer("t").start_span("s")
span.end()
exporter = CountedExporter(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=1))
assert exporter.export([span]).name == "FAILURE"
"""


def _app_export_failure_line() -> str:
    """What the SSE app really logs (stdout, as Lambda ships it) when the collector refuses a batch."""
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run([sys.executable, "-c", _APP_EXPORT_FAILURE], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stdout.splitlines() if x.strip()]
    return line


def test_issue9_app_to_collector_export_failures_are_counted_and_alarmed(stack: StackView):
    """Issue 9, the hop before the collector: a batch the collector on localhost never took is dropped by the SDK
    silently. The app now logs each one, and the streaming function's log group counts that real line (and not the
    collector's healthy lines) into AppSpanExportFailures, with default 0 and an errors-class alarm with actions."""
    from offline.e2e import collector_log

    (fn,) = [f for f in stack.functions() if f.urn in stack.streaming_function_urns()]
    (flt,) = [f for f in stack.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
              if f.inputs["logGroupName"] == f"/aws/lambda/{fn.inputs['name']}"
              and f.inputs["metricTransformation"]["name"] == APP_EXPORT_FAILURES]
    transform = flt.inputs["metricTransformation"]
    assert transform["defaultValue"] == "0" and transform["namespace"] == fallback_namespace(fn.inputs["name"])
    (alarm,) = [a for a in stack.alarms() if a.inputs.get("metricName") == APP_EXPORT_FAILURES]
    assert alarm.inputs["namespace"] == transform["namespace"] and alarm.inputs["alarmActions"]
    assert alarm.inputs["treatMissingData"] == TREAT_MISSING_DATA[AlarmClass.ERRORS]
    line = _app_export_failure_line()
    assert _counted(flt.inputs["pattern"], (line, *collector_log.HEALTHY)) == {line}


def test_issue9_collector_config_names_no_undeclared_metric_filter():
    """The collector config's comment promised an ``ADOTExportFailure`` filter that did not exist; what it names
    now is the phrase the declared filter matches."""
    from pathlib import Path

    config = (Path(__file__).resolve().parents[2] / "handlers" / "sse" / "collector" / "config.yaml").read_text()
    assert "ADOTExportFailure" not in config and "COLLECTOR_EXPORT_FAILURE_PHRASE" in config
    assert "level: warn" in config  # the failure lines are error level; the retry line (info) stays out
