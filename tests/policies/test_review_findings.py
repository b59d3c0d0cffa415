"""Issue 11, the pack review's findings, one test (or a few) each; each of them failed before its fix, except the
two marked as regression locks (their finding was already fixed by the stack index's linking)."""
from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as U

from contract import cost, streaming
from contract.alarms import CLASS_TAG, AlarmClass
from tests.policies.test_rules_inprocess import ALARM, URL, _fn, res, run_resource, run_stack

BUDGET = "aws:budgets/budget:Budget"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alarms"


def _duration(name: str, dim, threshold: float = 25_500, **props):
    pdeps = props.pop("pdeps", None)
    return res(ALARM, name, {"namespace": "AWS/Lambda", "metricName": "Duration", "extendedStatistic": "p95",
                             "comparisonOperator": "GreaterThanThreshold", "threshold": threshold,
                             "dimensions": {"FunctionName": dim}, **props}, pdeps=pdeps)


# -- FunctionName as an ARN or name:qualifier; unknown FunctionName by property dependencies --------

@pytest.mark.parametrize("dim", ["api-fn:live", "123456789012:function:api-fn", "123456789012:function:api-fn:7",
                                 "arn:aws:lambda:us-east-1:123456789012:function:api-fn:live"])
def test_latency_alarm_dimension_as_arn_or_qualified_links_to_its_function(dim):
    """Regression lock: the forms Lambda accepts for a function (name, name:qualifier, full or partial ARN)."""
    assert run_stack("lambda-latency-alarm", [_fn("api-fn"), _duration("d", dim)]) == []


def test_unknown_function_name_links_by_property_dependencies_only_to_that_function():
    """Regression lock: FunctionName unknown at preview; the alarm's dimensions were computed from 'api-fn'."""
    fn, other = _fn("api-fn", name=U), _fn("other-fn", name=U)
    alarm = _duration("d", U, pdeps={"dimensions": [fn]})
    found = run_stack("lambda-latency-alarm", [fn, other, alarm])
    assert [u for u, _ in found] == ["other-fn"]


def test_absent_function_name_does_not_link_through_a_sibling_querys_dependency():
    """An account-wide Errors query (no FunctionName) is not this function's errors alarm just because another
    query of the same alarm depends on the function."""
    fn = _fn("api-fn")
    alarm = res(ALARM, "rate", {"metricQueries": [
        {"id": "e", "metric": {"namespace": "AWS/Lambda", "metricName": "Errors", "stat": "Sum", "dimensions": {}}},
        {"id": "i", "metric": {"namespace": "AWS/Lambda", "metricName": "Invocations", "stat": "Sum",
                               "dimensions": {"FunctionName": U}}},
        {"id": "r", "expression": "100*e/i", "returnData": True}]}, pdeps={"metricQueries": [fn]})
    assert [u for u, _ in run_stack("lambda-error-alarm", [fn, alarm])] == ["api-fn"]


# -- a LessThanThreshold Duration alarm is no latency alarm -----------------------------------------

@pytest.mark.parametrize("comparison,counts", [("LessThanThreshold", False), ("LessThanOrEqualToThreshold", False),
                                               ("GreaterThanThreshold", True), ("GreaterThanOrEqualToThreshold", True),
                                               (U, True)])
def test_only_a_ceiling_on_duration_counts_as_a_latency_alarm(comparison, counts):
    found = run_stack("lambda-latency-alarm", [_fn("api-fn"), _duration("d", "api-fn", comparisonOperator=comparison)])
    assert (found == []) is counts, found
    assert counts or "no AWS/Lambda Duration percentile alarm" in found[0][1]


# -- absence by shape: only a floor under a count of the compared metric, never a log-filter count --

def _floor(**props):
    return {"comparisonOperator": "LessThanThreshold", "threshold": 1, "treatMissingData": "notBreaching", **props}


def test_floor_on_a_log_filter_metric_is_not_absence_shaped():
    """D6 / MF-1: a metric filter publishes nothing while the function writes no logs, so breaching would page on
    every quiet hour; the same floor on an emitted heartbeat is an absence alarm."""
    log_filter = res(FILTER, "fallback", {"metricTransformation": {"namespace": "App", "name": "Fallback",
                                                                    "value": "1", "defaultValue": "0"}})
    on_filter = res(ALARM, "fallback-floor", _floor(namespace="App", metricName="Fallback", statistic="Sum"))
    heartbeat = res(ALARM, "heartbeat", _floor(namespace="App", metricName="Heartbeat", statistic="Sum"))
    found = run_stack("absence-alarm-breaching", [log_filter, on_filter, heartbeat])
    assert [u for u, _ in found] == ["heartbeat"]


def test_floor_on_a_rate_expression_is_not_absence_shaped_but_on_a_returned_count_is():
    """The comparison applies to the series the alarm returns: a success rate computed from Sum inputs is not a
    count; a metric query that returns a Sum is."""
    queries = [{"id": "ok", "metric": {"namespace": "App", "metricName": "Succeeded", "stat": "Sum"}},
               {"id": "all", "metric": {"namespace": "App", "metricName": "Requests", "stat": "Sum"}}]
    rate = res(ALARM, "success-rate", _floor(threshold=99, metricQueries=[
        *queries, {"id": "r", "expression": "100*ok/all", "returnData": True}]))
    returned = res(ALARM, "requests-floor", _floor(metricQueries=[
        {**queries[1], "returnData": True}, {"id": "x", "expression": "all*2", "returnData": False}]))
    found = run_stack("absence-alarm-breaching", [rate, returned])
    assert [u for u, _ in found] == ["requests-floor"]


# -- streaming-otel-config: the traces endpoint is a URL, parsed ------------------------------------

_SSE_URL = res(URL, "u", {"functionName": "sse", "invokeMode": "RESPONSE_STREAM"})


def _otel(**env):
    fn = _fn("sse", environment={"variables": {**streaming.otel_environment("s"), **env}})
    return run_stack("streaming-otel-config", [fn, _SSE_URL])


_C = streaming.COLLECTOR_ENDPOINT  # http://localhost:4318


@pytest.mark.parametrize("endpoint", [f"{_C}0/v1/traces", f"{_C}.evil.example/v1/traces", _C, f"{_C}/v1/metrics",
                                      "https" + _C.removeprefix("http") + "/v1/traces",
                                      _C.removeprefix("http://") + "/v1/traces"])
def test_traces_endpoint_that_is_not_the_collectors_traces_path_is_reported(endpoint):
    found = _otel(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint)
    assert len(found) == 1 and "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in found[0][1] and "/v1/traces" in found[0][1]


@pytest.mark.parametrize("endpoint", [f"{_C}/v1/traces", f"{streaming.COLLECTOR_ENDPOINTS[-1]}/v1/traces/",
                                      f"{_C.upper().replace('HTTP', 'http')}/v1/traces", U])
def test_collector_traces_endpoint_passes(endpoint):
    assert _otel(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint) == []


def test_traces_protocol_override_is_checked():
    """OTEL_EXPORTER_OTLP_TRACES_PROTOCOL overrides the general protocol for traces: grpc to :4318 never arrives."""
    found = _otel(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc")
    assert len(found) == 1 and "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='grpc'" in found[0][1]
    assert _otel(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=streaming.PROTOCOL) == []


# -- tracing-cost-budget: a monthly COST budget on X-Ray with a limit, notifying someone -----------

def _budget(**props):
    notes = [{"threshold": t, "thresholdType": "ABSOLUTE_VALUE", "subscriberSnsTopicArns": [TOPIC_ARN]}
             for t in cost.BUDGET_THRESHOLDS_USD]
    return res(BUDGET, "xray-budget", {
        "budgetType": "COST", "timeUnit": "MONTHLY", "limitAmount": str(max(cost.BUDGET_THRESHOLDS_USD)),
        "costFilters": [{"name": "Service", "values": [cost.XRAY_BUDGET_SERVICE]}], "notifications": notes, **props})


TRACED = _fn("api-fn", tracingConfig={"mode": "Active"})


@pytest.mark.parametrize("props,why", [
    ({"budgetType": "USAGE"}, "budget_type is 'USAGE'"),
    ({"timeUnit": "DAILY"}, "time_unit is 'DAILY'"),
    ({"limitAmount": None}, "limit_amount is not set"),
    ({"costFilters": [{"name": "Service", "values": ["Amazon DynamoDB"]}]}, "no cost filter Service='AWS X-Ray'"),
    ({"costFilters": []}, "no cost filter Service='AWS X-Ray'"),
])
def test_a_budget_that_is_not_a_monthly_cost_budget_on_xray_does_not_count(props, why):
    found = run_stack("tracing-cost-budget", [TRACED, _budget(**props)])
    assert len(found) == 1 and why in found[0][1], found
    assert run_stack("tracing-cost-budget", [TRACED, _budget()]) == []


def test_a_notification_nobody_receives_does_not_count():
    notes = [{"threshold": t, "thresholdType": "ABSOLUTE_VALUE"} for t in cost.BUDGET_THRESHOLDS_USD]
    found = run_stack("tracing-cost-budget", [TRACED, _budget(notifications=notes)])
    assert len(found) == 1 and "notifies anyone" in found[0][1]
    emailed = [{**n, "subscriberEmailAddresses": ["ops@example.com"]} for n in notes]
    assert run_stack("tracing-cost-budget", [TRACED, _budget(notifications=emailed)]) == []


def test_budget_on_xray_by_filter_expression_counts():
    """The newer filter_expression form of the same Service filter (alone, or inside an AND)."""
    dims = {"dimensions": {"key": "SERVICE", "values": [cost.XRAY_BUDGET_SERVICE]}}
    assert run_stack("tracing-cost-budget", [TRACED, _budget(costFilters=None, filterExpression=dims)]) == []
    anded = {"ands": [dims, {"dimensions": {"key": "REGION", "values": ["us-east-1"]}}]}
    assert run_stack("tracing-cost-budget", [TRACED, _budget(costFilters=None, filterExpression=anded)]) == []
    negated = {"not": dims}
    assert run_stack("tracing-cost-budget", [TRACED, _budget(costFilters=None, filterExpression=negated)])


def test_account_wide_budget_counts_when_the_service_filter_is_off():
    assert run_stack("tracing-cost-budget", [TRACED, _budget(costFilters=[])], config={"service": ""}) == []


# -- advisory noise: only stacks that trace are asked for a budget ----------------------------------

def test_stack_without_lambda_or_xray_resources_gets_no_budget_advisory():
    assert run_stack("tracing-cost-budget", [res("aws:s3/bucket:Bucket", "site", {"bucket": "site"})]) == []
    assert run_stack("tracing-cost-budget", [_fn("untraced")]) == []  # PassThrough: Lambda's default


@pytest.mark.parametrize("resource", [
    TRACED, res("aws:xray/group:Group", "errors", {"groupName": "errors"}),
    res("aws:apigateway/stage:Stage", "s", {"xrayTracingEnabled": True}),
    res("aws:sns/topic:Topic", "t", {"tracingConfig": "Active"}),
    res("aws:sfn/stateMachine:StateMachine", "m", {"tracingConfiguration": {"enabled": True}}),
    _fn("maybe", tracingConfig={"mode": U})])
def test_stack_that_traces_gets_the_budget_advisory(resource):
    assert len(run_stack("tracing-cost-budget", [resource])) == 1


# -- the UNKNOWN marker is falsy: never read it as "absent" ---------------------------------------

def test_unknown_percentile_is_not_an_absent_one():
    """extendedStatistic unknown at preview (from config through an Output): the alarm may be the p95 alarm."""
    assert run_stack("lambda-latency-alarm", [_fn("api-fn"), _duration("d", "api-fn", extendedStatistic=U,
                                                                         statistic=None)]) == []


def test_unknown_alarm_name_is_not_replaced_by_the_logical_name():
    """An alarm named from an Output is unknown at preview; a known dashboard body cannot be checked against it
    yet, and its logical name is not its name."""
    alarm = res(ALARM, "a1", {"name": U})
    shown = res(ALARM, "a2", {"name": "a2"})
    body = json.dumps({"widgets": [{"type": "alarm", "properties": {"alarms": [
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a2"]}}]})
    assert run_stack("dashboard-shows-all-alarms", [alarm, shown, res(DASHBOARD, "ops", {"dashboardBody": body})]) == []


def test_unknown_threshold_type_is_not_a_percentage():
    """thresholdType unknown: the $10 notification may be ABSOLUTE_VALUE; nothing is reported until known."""
    notes = [{"threshold": t, "thresholdType": U if t == min(cost.BUDGET_THRESHOLDS_USD) else "ABSOLUTE_VALUE",
              "subscriberSnsTopicArns": [TOPIC_ARN]} for t in cost.BUDGET_THRESHOLDS_USD]
    assert run_stack("tracing-cost-budget", [TRACED, _budget(notifications=notes)]) == []


# -- alarm-has-actions: OK actions required by default (D8) ---------------------------------------

def test_ok_actions_are_required_by_default():
    """D8: every alarm sends alarm AND OK actions to the alarm topic (the OK closes the incident)."""
    found = run_resource("alarm-has-actions", ALARM, {"alarmActions": [TOPIC_ARN]})
    assert len(found) == 1 and "ok_actions is empty" in found[0]
    assert run_resource("alarm-has-actions", ALARM, {"alarmActions": [TOPIC_ARN], "okActions": [U]}) == []
    assert run_resource("alarm-has-actions", ALARM, {"alarmActions": [TOPIC_ARN]},
                        config={"requireOkActions": False}) == []


def test_tagged_absence_alarm_still_needs_breaching():
    """The stack-policy form keeps the tag rule (D6)."""
    alarm = res(ALARM, "canary", {"tags": {CLASS_TAG: AlarmClass.ABSENCE.value}, "treatMissingData": "missing"})
    assert [u for u, _ in run_stack("absence-alarm-breaching", [alarm])] == ["canary"]
