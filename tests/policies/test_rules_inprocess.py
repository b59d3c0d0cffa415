"""Edge shapes, judged in process with pulumi-policy's own types: the unknown-checking proxy, the
servicer that turns requests into args (``InProcessAnalyzer``), secrets, metric queries, ARN forms,
missing keys. Fast; no subprocess, no program (a policy never crashes on an unknown, a secret or an
odd shape). Expected values come from ``contract``; the props are what a user program would send."""
from __future__ import annotations

import json

import pytest
from google.protobuf import struct_pb2
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions, _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as U
from pulumi_policy.proxy import unknown_checking_proxy

from contract import cost, streaming, xray
from contract.alarms import CLASS_TAG, AlarmClass
from offline.mocks import ResourceRecord
from offline.policy_driver import InProcessAnalyzer, reconcile_config
from policies.xray_rules import PACK_NAME, build_policies

SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET = "1b47061264138c4ac30d75fd1eb44270"
FN = "aws:lambda/function:Function"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
URL = "aws:lambda/functionUrl:FunctionUrl"
ROLE = "aws:iam/role:Role"
ABSENCE, ERRORS, SATURATION = AlarmClass.ABSENCE.value, AlarmClass.ERRORS.value, AlarmClass.SATURATION.value


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::edge::{type_}::{name}"


def policy(name: str):
    return next(p for p in build_policies() if p.name == name)


def options() -> PolicyResourceOptions:
    """The options the SDK's servicer builds for a resource that sets none (no custom timeouts: zeros)."""
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def rargs(type_: str, props: dict, name: str = "r", config=None) -> ResourceValidationArgs:
    return ResourceValidationArgs(type_, unknown_checking_proxy(props), urn(type_, name), name, options(), None,
                                  config, {})


def run_resource(name: str, type_: str, props: dict, config=None) -> list[str]:
    found: list[str] = []
    policy(name).validate(rargs(type_, props, config=config), lambda msg, urn=None: found.append(msg))
    return found


def res(type_: str, name: str, props: dict, pdeps=None, deps=None) -> PolicyResource:
    return PolicyResource(type_, unknown_checking_proxy(props), urn(type_, name), name, options(), None, None,
                          list(deps or []), dict(pdeps or {}))


def run_stack(name: str, resources: list, config=None) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    policy(name).validate(StackValidationArgs(resources, config, {}),
                          lambda msg, urn=None: found.append((urn.rsplit("::", 1)[-1] if urn else "", msg)))
    return found


# -- resource policies through the proxy ----------------------------------------------------------

def test_tracing_unknown_mode_is_not_applicable_not_an_unknown_error():
    """lambda-tracing-active: an unknown mode is a deliberate not-applicable, never UnknownValueError."""
    with pytest.raises(_NotApplicableError):
        run_resource("lambda-tracing-active", FN, {"tracingConfig": {"mode": U}})


@pytest.mark.parametrize("props", [{}, {"tracingConfig": {}}, {"tracingConfig": {"mode": "PassThrough"}}])
def test_tracing_missing_or_passthrough_is_a_violation(props):
    """lambda-tracing-active: a missing tracingConfig means PassThrough (Lambda's default)."""
    found = run_resource("lambda-tracing-active", FN, props)
    assert len(found) == 1 and "tracing_config={'mode': 'Active'}" in found[0]


def test_tracing_exemption_by_name_pattern():
    found = run_resource("lambda-tracing-active", FN, {"name": "legacy-thing"}, config={"exemptNames": ["legacy-*"]})
    assert found == []


def test_absence_alarm_unknown_treatment_is_judged_when_known():
    """absence-alarm-breaching is a stack policy (it reads the stack's log metric filters): an unknown
    treatment is no violation, the run after the update judges it."""
    assert run_stack("absence-alarm-breaching",
                     [res(ALARM, "a", {"tags": {CLASS_TAG: ABSENCE}, "treatMissingData": U})]) == []


@pytest.mark.parametrize("props,violates", [
    ({"comparisonOperator": "LessThanThreshold", "statistic": "Sum", "treatMissingData": "notBreaching"}, True),
    ({"comparisonOperator": "LessThanThreshold", "statistic": "Average", "treatMissingData": "notBreaching"}, False),
    ({"comparisonOperator": "LessThanThreshold", "metricQueries": [
        {"id": "m", "metric": {"metricName": "Heartbeat", "stat": "SampleCount", "dimensions": {"A": U}}}]}, True),
    ({"comparisonOperator": "GreaterThanThreshold", "statistic": "Sum", "tags": {CLASS_TAG: ABSENCE}}, True),
    ({"comparisonOperator": "LessThanThreshold", "statistic": "Sum", "tags": {CLASS_TAG: SATURATION}}, False),
])
def test_absence_by_shape_or_tag(props, violates):
    """absence-alarm-breaching (D6): by tag, or untagged by shape (LessThan* on Sum/SampleCount/Minimum),
    including a metric-math alarm."""
    assert bool(run_stack("absence-alarm-breaching", [res(ALARM, "a", props)])) is violates


def test_missing_data_class_map_is_configurable():
    props = {"tags": {CLASS_TAG: ERRORS}, "treatMissingData": "ignore"}
    assert run_resource("alarm-missing-data-class", ALARM, props)
    assert not run_resource("alarm-missing-data-class", ALARM, props,
                            config={"classes": {ERRORS: "ignore"}})


def test_alarm_actions_with_unknown_topic_arn_count_as_actions():
    """alarm-has-actions: in preview the topic ARN is unknown, but the action is there."""
    assert run_resource("alarm-has-actions", ALARM, {"alarmActions": [U], "okActions": [U]}) == []
    assert run_resource("alarm-has-actions", ALARM, {"alarmActions": U, "okActions": U}) == []
    assert run_resource("alarm-has-actions", ALARM, {"alarmActions": [U], "okActions": [U], "actionsEnabled": False})
    assert run_resource("alarm-has-actions", ALARM, {})


def test_xray_name_limit_configurable():
    props = {"groupName": "x" * (xray.MAX_NAME_LENGTH + 1)}
    assert run_resource("xray-name-limits", "aws:xray/group:Group", props)
    assert not run_resource("xray-name-limits", "aws:xray/group:Group", props,
                            config={"maxLength": xray.MAX_NAME_LENGTH + 8})


# -- stack policies: linking ----------------------------------------------------------------------

def _fn(logical, **props):
    return res(FN, logical, {"name": logical, "timeout": 30, "role": f"arn:aws:iam::1:role/{logical}-role", **props})


@pytest.mark.parametrize("fn_dim", ["api-fn", "api-fn:live",
                                    "arn:aws:lambda:us-east-1:123456789012:function:api-fn",
                                    "arn:aws:lambda:us-east-1:123456789012:function:api-fn:live"])
def test_error_alarm_links_name_qualifier_and_arn_forms(fn_dim):
    fn = _fn("api-fn")
    alarm = res(ALARM, "e", {"namespace": "AWS/Lambda", "metricName": "Errors", "dimensions": {"FunctionName": fn_dim}})
    assert run_stack("lambda-error-alarm", [fn, alarm]) == []


def test_error_alarm_metric_query_with_unknown_dims_links_by_property_dependencies():
    """lambda-error-alarm: FunctionName unknown in a metric query; metricQueries depends on the function."""
    fn = _fn("api-fn", name=U)
    other = _fn("other-fn")
    alarm = res(ALARM, "rate", {"metricQueries": [
        {"id": "e", "metric": {"namespace": "AWS/Lambda", "metricName": "Errors", "dimensions": {"FunctionName": U}}},
        {"id": "r", "expression": "100*e"}]}, pdeps={"metricQueries": [fn]})
    found = run_stack("lambda-error-alarm", [fn, other, alarm])
    assert [u for u, _ in found] == ["other-fn"]


def test_error_alarm_on_other_metric_does_not_count():
    fn = _fn("api-fn")
    alarm = res(ALARM, "t", {"namespace": "AWS/Lambda", "metricName": "Throttles", "dimensions": {"FunctionName": "api-fn"}})
    assert [u for u, _ in run_stack("lambda-error-alarm", [fn, alarm])] == ["api-fn"]


def test_streaming_found_through_url_with_secret_env_and_unknown_function_name():
    """streaming-no-exec-wrapper: the URL's functionName is unknown (linked by property dependency);
    the env var lives on the function, next to a secret value."""
    fn = _fn("sse", name=U, environment={"variables": {streaming.EXEC_WRAPPER_VAR: "/opt/otel-handler",
                                                       "API_KEY": "s3cr3t"}})
    url = res(URL, "sse-url", {"functionName": U, "invokeMode": "RESPONSE_STREAM"}, pdeps={"functionName": [fn]})
    buffered = _fn("worker", environment={"variables": {streaming.EXEC_WRAPPER_VAR: "/opt/otel-instrument"}})
    found = run_stack("streaming-no-exec-wrapper", [fn, url, buffered])
    assert [u for u, _ in found] == ["sse"]
    assert run_stack("streaming-no-exec-wrapper", [fn, res(URL, "u", {"functionName": "sse", "invokeMode": "BUFFERED"}),
                                                   buffered]) == []


def test_otel_config_unknown_values_are_not_violations():
    """The environment the component sets, with an unknown service name and the other accepted endpoint
    spelled with a trailing slash, passes; a wrong protocol and two service names do not."""
    env = {**streaming.otel_environment("s"), "OTEL_SERVICE_NAME": U,
           "OTEL_EXPORTER_OTLP_ENDPOINT": streaming.COLLECTOR_ENDPOINTS[-1] + "/"}
    fn = _fn("sse", environment={"variables": env})
    url = res(URL, "u", {"functionName": "sse", "invokeMode": "RESPONSE_STREAM"})
    assert run_stack("streaming-otel-config", [fn, url]) == []
    env2 = {**env, "OTEL_SERVICE_NAME": "other", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    found = run_stack("streaming-otel-config", [_fn("sse", environment={"variables": env2}), url])
    assert len(found) == 1 and "grpc" in found[0][1] and "FR-047" in found[0][1]


@pytest.mark.parametrize("statement,ok", [
    ({"Effect": "Allow", "Action": "xray:*", "Resource": "*"}, True),
    ({"Effect": "Allow", "Action": ["xray:Put*", "xray:GetSampling*"], "Resource": "*"}, True),
    ({"Effect": "Allow", "Action": ["xray:Put*"], "Resource": "*"}, False),
    ({"Effect": "Allow", "Action": "xray:*", "Resource": "arn:aws:dynamodb:us-east-1:1:table/t"}, False),
    ({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}, True),
])
def test_xray_permissions_policy_documents(statement, ok):
    """xray-write-permissions: wildcards count, resource must be '*', NotAction understood."""
    role = res(ROLE, "r", {"name": "r", "inlinePolicies": [{"name": "p", "policy": json.dumps({"Statement": [statement]})}]})
    fn = res(FN, "api", {"name": "api", "role": U}, pdeps={"role": [role]})
    found = run_stack("xray-write-permissions", [role, fn])
    assert (found == []) is ok, found


def test_xray_permissions_deny_and_managed_arns():
    deny = json.dumps({"Statement": [{"Effect": "Deny", "Action": "xray:GetSampling*", "Resource": "*"}]})
    role = res(ROLE, "r", {"name": "r", "managedPolicyArns": ["arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"],
                           "inlinePolicies": [{"name": "d", "policy": deny}]})
    fn = res(FN, "api", {"name": "api", "role": "arn:aws:iam::1:role/r"})
    found = run_stack("xray-write-permissions", [role, fn])
    denied = [a for a in xray.XRAY_ACTIONS if a.startswith("xray:GetSampling")]
    assert len(found) == 1 and denied and all(a in found[0][1] for a in denied)


def test_xray_permissions_unknown_document_is_not_counted_unless_configured():
    """An unknown document (built from unknown ARNs) cannot be read at preview: by default it grants
    nothing (and the message says so); unknownPolicyDocuments=pass trusts it."""
    role = res(ROLE, "r", {"name": "r"})
    policy_res = res("aws:iam/rolePolicy:RolePolicy", "p", {"role": U, "policy": U}, pdeps={"role": [role]})
    fn = res(FN, "api", {"name": "api", "role": U}, pdeps={"role": [role]})
    found = run_stack("xray-write-permissions", [role, policy_res, fn])
    assert len(found) == 1 and "unknown until deploy" in found[0][1]
    assert run_stack("xray-write-permissions", [role, policy_res, fn], config={"unknownPolicyDocuments": "pass"}) == []


def test_budget_percentage_thresholds_of_the_limit():
    """tracing-cost-budget: percentages of the limit count as the amounts they are (here each default
    threshold as a percentage of a limit at the highest one)."""
    limit = max(cost.BUDGET_THRESHOLDS_USD)
    notes = [{"threshold": t / limit * 100, "thresholdType": "PERCENTAGE", "subscriberSnsTopicArns": [U]}
             for t in cost.BUDGET_THRESHOLDS_USD]
    budget = res("aws:budgets/budget:Budget", "b", {
        "budgetType": "COST", "timeUnit": "MONTHLY", "limitAmount": str(limit), "notifications": notes,
        "costFilters": [{"name": "Service", "values": [cost.XRAY_BUDGET_SERVICE]}]})
    traced = _fn("api", tracingConfig={"mode": "Active"})
    assert run_stack("tracing-cost-budget", [traced, budget]) == []
    more = [*cost.BUDGET_THRESHOLDS_USD, 2 * limit]
    found = run_stack("tracing-cost-budget", [traced, budget], config={"thresholdsUsd": more})
    assert found and f"${2 * limit:g}" in found[0][1]


def test_dashboard_unknown_body_uses_property_dependencies():
    a1 = res(ALARM, "a1", {"name": "a1"})
    a2 = res(ALARM, "a2", {"name": "a2"})
    dash = res("aws:cloudwatch/dashboard:Dashboard", "ops", {"dashboardBody": U}, pdeps={"dashboardBody": [a1]})
    found = run_stack("dashboard-shows-all-alarms", [a1, a2, dash])
    assert len(found) == 1 and "a2" in found[0][1] and "a1," not in found[0][1]


def test_canary_pattern_is_configurable():
    role = res(ROLE, "shared", {"name": "shared"})
    fns = [res(FN, n, {"name": n, "role": "arn:aws:iam::1:role/shared"}) for n in ("prober", "app")]
    assert run_stack("canary-role-isolated", [role, *fns]) == []
    found = run_stack("canary-role-isolated", [role, *fns], config={"canaryNamePatterns": ["prober*"]})
    assert [u for u, _ in found] == ["prober"]


# -- through the servicer (wire Structs, secrets, remediation) -----------------------------------

def _record(type_, name, props: dict, pdeps=None) -> ResourceRecord:
    s = struct_pb2.Struct()
    s.update(props)
    return ResourceRecord(type=type_, name=name, urn=urn(type_, name), custom=True, parent="", dependencies=[],
                          property_dependencies=dict(pdeps or {}), inputs_struct=s, outputs_struct=s)


@pytest.fixture
def analyzer():
    a = InProcessAnalyzer(PACK_NAME, build_policies(), version="0.1.0")
    info = a.configure_stack("edge", "test", "organization", True, {})
    return a, info


def test_servicer_unknown_and_secret_props_give_no_cant_run_diagnostic(analyzer):
    a, info = analyzer
    a.configure(reconcile_config(info, {}))
    secret_env = {"variables": {"TOKEN": {SECRET_SIG: SECRET, "value": "s3cr3t"}}}
    diags, na = a.analyze(_record(FN, "f", {"tracingConfig": {"mode": U}, "environment": secret_env}))
    assert diags == [] and [n["policy"] for n in na] == ["lambda-tracing-active"]
    diags, _ = a.analyze(_record(ALARM, "al", {"tags": U, "alarmActions": [U], "metricQueries": U}))
    assert not any("can't run" in d.message for d in diags), [d.message for d in diags]


def test_remediation_sets_active_and_passes_unknowns_through(analyzer):
    """lambda-tracing-active at level remediate: Remediate returns tracingConfig.mode=Active and keeps
    an unknown role as the raw sentinel; the remediated props then pass Analyze."""
    a, info = analyzer
    a.configure(reconcile_config(info, {"lambda-tracing-active": "remediate"}))
    record = _record(FN, "f", {"role": U, "tracingConfig": {"mode": "PassThrough"}})
    props, applied = a.remediate(record)
    assert [d.level for d in applied] == ["remediate"]
    assert props["tracingConfig"]["mode"] == "Active" and props["role"] == U
    diags, _ = a.analyze(record, props)
    assert not [d for d in diags if d.policy == "lambda-tracing-active"]


def test_remediation_not_offered_at_mandatory(analyzer):
    a, info = analyzer
    a.configure(reconcile_config(info, {}))
    props, applied = a.remediate(_record(FN, "f", {"tracingConfig": {"mode": "PassThrough"}}))
    assert applied == []
