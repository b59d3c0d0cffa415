"""Each component alone (reusable by other teams), the monitoring registry, and the argument checks."""
from __future__ import annotations

import json
from typing import Any

import pytest

from components.alarms import AlarmClass, AlarmSet, AlarmSetArgs, AlarmSpec, Evaluation, duration_threshold_ms, lambda_specs
from components.cost import CostGuard, CostGuardArgs
from components.iam import Statement
from components.monitoring import Monitoring, MonitoringDefaults
from components.sampling import SamplingRule, TraceGroup, XRaySampling, XRaySamplingArgs, sampling_rules
from components.streaming_lambda import ImageSource, StreamingTracedLambda, StreamingTracedLambdaArgs
from components.traced_lambda import AlarmOptions, TracedLambda, TracedLambdaArgs
from contract.alarms import CLASS_TAG, TREAT_MISSING_DATA
from contract.naming import function_name
from contract.xray import MAX_NAME_LENGTH, XRAY_ACTIONS
from tests.infra.conftest import policy_actions

LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:18"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alarms"
#: An alarm class's value where the AlarmClass belongs: typed Any, since the runtime check of the type is under test.
NOT_AN_ALARM_CLASS: Any = AlarmClass.ERRORS.value


def traced_args(code_dir, **overrides) -> TracedLambdaArgs:
    code, common = code_dir
    base = dict(environment="team", function="orders", code_dir=code, common_dir=common, alarm_topic_arn=TOPIC,
                powertools_layer_arn=LAYER, timeout_seconds=20)
    return TracedLambdaArgs(**{**base, **overrides})


def test_traced_lambda_alone_is_traced_permitted_and_alarmed(run_component, code_dir):
    """FR-013/017/040/041 hold for another team's function built from the component alone."""
    view = run_component(lambda: TracedLambda("orders", traced_args(
        code_dir, alarms=AlarmOptions(failure_paths=["audit_trail"]),
        statements=[Statement(["dynamodb:GetItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/orders"])])))
    (f,) = view.functions()
    assert f.inputs["name"] == function_name("team", "orders") and f.inputs["tracingConfig"] == {"mode": "Active"}
    policies = [p.inputs["policy"] for p in view.of_type("aws:iam/rolePolicy:RolePolicy")]
    xray = [json.loads(p) for p in policies if isinstance(p, str) and "xray:" in p]
    assert xray and set(XRAY_ACTIONS) <= policy_actions(xray[0])
    alarms = {a.inputs["name"].removeprefix("team-sentiment-orders-"): a.inputs for a in view.alarms()}
    assert {"errors", "error-rate", "throttles", "p95-duration", "silent-failure-audit-trail"} == set(alarms)
    assert alarms["p95-duration"]["threshold"] == 17000  # 85% of 20 s
    component = view.one("sentiment:observability:TracedLambda")
    assert all(r.parent == component.urn or view.by_urn[r.parent].parent == component.urn
               for r in view.records if r.custom), "children are parented to the component"


def test_traced_lambda_schedule_and_dlq(run_component, code_dir):
    view = run_component(lambda: TracedLambda("orders", traced_args(
        code_dir, schedule_expression="rate(5 minutes)", dead_letter_queue=True)))
    rule = view.one("aws:cloudwatch/eventRule:EventRule")
    assert rule.inputs["scheduleExpression"] == "rate(5 minutes)"
    target = view.one("aws:cloudwatch/eventTarget:EventTarget")
    assert target.inputs["retryPolicy"]["maximumRetryAttempts"] == 2
    assert view.one("aws:sqs/queue:Queue").inputs["name"] == "team-sentiment-orders-dlq"


@pytest.mark.parametrize("overrides, message", [
    ({"timeout_seconds": 901}, "timeout_seconds must be 1..900"),
    ({"memory_mb": 64}, "memory_mb must be 128..10240"),
    ({"runtime": "nodejs20.x"}, "not a Python runtime"),
    ({"powertools_layer_arn": "arn:aws:lambda:us-east-1:017000801446:layer:Powertools"}, "version-pinned layer ARN"),
    ({"env_vars": {"AWS_REGION": "x"}}, "reserved by Lambda"),
    ({"schedule_expression": "every 5 minutes"}, "must be rate(...) or cron(...)"),
    ({"function": "Bad_Name"}, "lowercase"),
])
def test_traced_lambda_bad_arguments_raise_clear_errors(code_dir, overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        traced_args(code_dir, **overrides)


def test_traced_lambda_needs_app_py(run_component, tmp_path, code_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="has no app.py"):
        run_component(lambda: TracedLambda("orders", traced_args((empty, code_dir[1]))))


def test_fr061_latency_fraction_outside_80_90_is_refused():
    assert duration_threshold_ms(60, 0.80) == 48000 and duration_threshold_ms(60, 0.90) == 54000
    for fraction in (0.42, 0.93):  # the spec's Analysis 25/60 s and SSE 14/15 s
        with pytest.raises(ValueError, match="outside the 80%-90% band"):
            lambda_specs("fn", 60, latency_fraction=fraction)


def test_alarm_set_alone_maps_classes_and_actions(run_component):
    """AlarmSet is the one place that knows D6/D8: a caller gives intent, never treat_missing_data."""
    specs = [AlarmSpec(suffix="heartbeat", alarm_class=AlarmClass.ABSENCE, description="beat",
                       comparison="LessThanThreshold", threshold=1, metric_name="Beat",
                       namespace="Team/App", statistic="Sum"),
             AlarmSpec(suffix="faults", alarm_class=AlarmClass.ERRORS, description="faults",
                       comparison="GreaterThanThreshold", threshold=0, metric_name="Faults",
                       namespace="Team/App", statistic="Sum"),
             AlarmSpec(suffix="slow", alarm_class=AlarmClass.LATENCY, description="slow",
                       comparison="GreaterThanThreshold", threshold=900, metric_name="Latency",
                       namespace="Team/App", extended_statistic="p99", evaluation=Evaluation(2, 3))]
    view = run_component(lambda: AlarmSet("team", AlarmSetArgs(prefix="team-app", alarm_topic_arn=TOPIC, specs=specs)))
    got = {a.inputs["name"]: a.inputs for a in view.alarms()}
    assert {n: a["treatMissingData"] for n, a in got.items()} == {
        f"team-app-{s.suffix}": TREAT_MISSING_DATA[s.alarm_class] for s in specs}
    assert got["team-app-slow"]["datapointsToAlarm"] == 2 and got["team-app-slow"]["evaluationPeriods"] == 3
    assert all(a["alarmActions"] == [TOPIC] == a["okActions"] and a["period"] == 60 for a in got.values())
    assert {a["tags"][CLASS_TAG] for a in got.values()} == {s.alarm_class.value for s in specs}


@pytest.mark.parametrize("build, message", [
    (lambda: AlarmSpec(suffix="x", alarm_class=NOT_AN_ALARM_CLASS, description="d", comparison="GreaterThanThreshold",
                       threshold=0, metric_name="M", namespace="N", statistic="Sum"), "must be an AlarmClass"),
    (lambda: AlarmSpec(suffix="x", alarm_class=AlarmClass.ERRORS, description="d", comparison="Bigger", threshold=0,
                       metric_name="M", namespace="N", statistic="Sum"), "unknown comparison"),
    (lambda: AlarmSpec(suffix="x", alarm_class=AlarmClass.ERRORS, description="d", comparison="GreaterThanThreshold",
                       threshold=0, metric_name="M", namespace=None, statistic="Sum"), "needs a namespace"),
    (lambda: AlarmSpec(suffix="x", alarm_class=AlarmClass.ERRORS, description="d", comparison="GreaterThanThreshold",
                       threshold=0, metric_name="M", namespace="N"), "exactly one of statistic"),
    (lambda: AlarmSpec(suffix="X!", alarm_class=AlarmClass.ERRORS, description="d",
                       comparison="GreaterThanThreshold", threshold=0, metric_name="M", namespace="N",
                       statistic="Sum"), "lowercase"),
    (lambda: Evaluation(4, 3), "datapoints <= periods"),
    (lambda: AlarmSetArgs("p", [], TOPIC), "no alarm specs"),
])
def test_alarm_bad_arguments_raise_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_streaming_lambda_alone(run_component, tmp_path):
    """FR-015/046/047/052-057 hold for the component alone; under mocks no image is built."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    image = ImageSource(context_dir=tmp_path, dockerfile=tmp_path / "Dockerfile", version="1.2.3")
    view = run_component(lambda: StreamingTracedLambda("stream", StreamingTracedLambdaArgs(
        environment="team", function="stream", image=image, alarm_topic_arn=TOPIC)))
    (f,) = view.functions()
    env = f.inputs["environment"]["variables"]
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in env and env["OTEL_SERVICE_NAME"] == env["POWERTOOLS_SERVICE_NAME"]
    url = view.one("aws:lambda/functionUrl:FunctionUrl")
    assert url.inputs["invokeMode"] == "RESPONSE_STREAM" and "x-amzn-trace-id" in url.inputs["cors"]["allowHeaders"]
    image_rec = view.one("docker-build:index:Image")
    assert image_rec.inputs["push"] is True and image_rec.inputs["platforms"] == ["linux/amd64"]
    assert [d.urn for d in view.depends_on(f, "imageUri")] == [image_rec.urn]


def test_fr046_exec_wrapper_on_streaming_lambda_raises(tmp_path):
    image = ImageSource(context_dir=tmp_path, dockerfile=tmp_path / "Dockerfile", version="1")
    with pytest.raises(ValueError, match="AWS_LAMBDA_EXEC_WRAPPER must not be set on a streaming function"):
        StreamingTracedLambdaArgs(environment="t", function="s", image=image, alarm_topic_arn=TOPIC,
                                  env_vars={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-handler"})
    with pytest.raises(ValueError, match="set by the component"):
        StreamingTracedLambdaArgs(environment="t", function="s", image=image, alarm_topic_arn=TOPIC,
                                  env_vars={"OTEL_PROPAGATORS": "tracecontext"})


def test_fr034_sampling_alone_and_name_limit(run_component):
    view = run_component(lambda: XRaySampling("x", XRaySamplingArgs(
        rules=sampling_rules("qa", "full"), groups=[TraceGroup("qa-errors", "fault = true OR error = true")])))
    assert view.one("aws:xray/samplingRule:SamplingRule").inputs["fixedRate"] == 1.0
    with pytest.raises(ValueError, match=f"longer than {MAX_NAME_LENGTH} characters"):
        XRaySamplingArgs(rules=[SamplingRule("a" * (MAX_NAME_LENGTH + 1), 1, 1, 1.0)], groups=[])
    with pytest.raises(ValueError, match="sampling mode"):
        sampling_rules("qa", "half")


def test_fr038_cost_guard_alone_and_bad_thresholds(run_component):
    view = run_component(lambda: CostGuard("c", CostGuardArgs(name="team-xray", alarm_topic_arn=TOPIC,
                                                              thresholds_usd=(5, 20))))
    budget = view.one("aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "20.00"
    with pytest.raises(ValueError, match="strictly increasing"):
        CostGuardArgs(name="x", alarm_topic_arn=TOPIC, thresholds_usd=(50, 10))


def test_monitoring_registry_builds_composite_and_dashboard_from_what_registered(run_component, code_dir):
    """Alarm sets register themselves; the composite and the dashboard list them without a hand-made list,
    and the registry's latency fraction reaches a component that was given none."""
    def program():
        monitoring = Monitoring(MonitoringDefaults(environment="team", alarm_topic_arn=TOPIC, latency_fraction=0.8))
        TracedLambda("orders", traced_args(code_dir, alarm_topic_arn=None, monitoring=monitoring))
        spec = AlarmSpec(suffix="beat", alarm_class=AlarmClass.ABSENCE, description="beat",
                         comparison="LessThanThreshold", threshold=1, metric_name="Beat",
                         namespace="Team/App", statistic="Sum", severity="CRITICAL")
        monitoring.alarm_set("system", "team-app", [spec])
        built = monitoring.finish(region="us-east-1", account_id="123456789012")
        with pytest.raises(ValueError, match="after Monitoring.finish"):
            monitoring.alarm_set("late", "team-late", [spec])
        return built
    view = run_component(program)
    alarms = {a.inputs["name"]: a.inputs for a in view.alarms()}
    assert alarms[f"{function_name('team', 'orders')}-p95-duration"]["threshold"] == 16000  # 80% of 20 s
    comp = view.one("aws:cloudwatch/compositeAlarm:CompositeAlarm")
    critical = {n for n, a in alarms.items() if a["tags"]["severity"] == "CRITICAL"}
    assert {"team-app-beat", f"{function_name('team', 'orders')}-error-rate"} <= critical
    assert set(comp.inputs["alarmRule"].split(" OR ")) == {f'ALARM("{n}")' for n in critical}
    body = json.loads(view.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    shown = {arn.rsplit(":", 1)[1] for w in body["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]}
    assert shown == set(alarms) | {comp.inputs["alarmName"]}
    assert "team-late-beat" not in alarms


def test_monitoring_needs_a_topic_and_a_fraction_in_band(code_dir):
    with pytest.raises(ValueError, match="band"):
        MonitoringDefaults(environment="t", alarm_topic_arn=TOPIC, latency_fraction=0.5)
    with pytest.raises(ValueError, match="give monitoring"):
        TracedLambdaArgs(environment="t", function="orders", code_dir=code_dir[0], powertools_layer_arn=LAYER)
