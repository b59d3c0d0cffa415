"""Issue 11, "Beyond the anchors": four new mandatory policies. Each rejects a small raw-``pulumi_aws`` program with
exactly its name, passes its compliant twin, and handles the edge shapes in process (links by value and by
property dependency, unknowns at preview, qualifiers); the prod stack passes all of them."""
from __future__ import annotations

import json

import pytest
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as U

from policies.xray_rules import build_policies
from tests.policies.conftest import REPO, violations
from tests.policies.test_rules_inprocess import FN, URL, res, run_resource, run_stack

STAGE = "aws:apigateway/stage:Stage"
MACHINE = "aws:sfn/stateMachine:StateMachine"
TOPIC = "aws:sns/topic:Topic"
SUB = "aws:sns/topicSubscription:TopicSubscription"
PERM = "aws:lambda/permission:Permission"
XRAY_POLICY = "aws:xray/resourcePolicy:ResourcePolicy"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:requests"

#: failing fixture -> the one (policy, level, resource) it must produce; its passing twin
FAILING = {
    "apigw_stage_untraced": ("apigateway-stage-tracing", "mandatory", "api-stage"),
    "sfn_untraced": ("stepfunctions-tracing-enabled", "mandatory", "flow"),
    "sns_topic_untraced": ("sns-topic-tracing-active", "mandatory", "requests"),
    "function_url_no_permissions": ("function-url-public-permissions", "mandatory", "api-url"),
}
PASSING = ["apigw_stage_traced", "sfn_traced", "sns_topic_traced", "function_url_public"]


@pytest.mark.parametrize("program", sorted(FAILING))
def test_new_policy_rejects_its_failing_program(preview, program):
    result = preview(program)
    assert violations(result) == {FAILING[program]}, [(d.policy, d.message) for d in result.diagnostics]
    assert result.exit_code == 1


@pytest.mark.parametrize("program", PASSING)
def test_new_policy_passes_its_compliant_program(preview, program):
    result = preview(program)
    assert result.diagnostics == [], [(d.policy, d.message) for d in result.diagnostics]


def test_prod_stack_passes_the_new_policies(preview):
    """The program is built right: traced REST stage, Active topics with the X-Ray grant, both URL permissions."""
    result = preview(REPO, stack="prod")
    assert result.diagnostics == [], [(d.policy, d.message) for d in result.diagnostics]


# -- apigateway-stage-tracing, stepfunctions-tracing-enabled ---------------------------------------

@pytest.mark.parametrize("props", [{}, {"xrayTracingEnabled": False}])
def test_stage_without_tracing_is_a_violation(props):
    found = run_resource("apigateway-stage-tracing", STAGE, props)
    assert len(found) == 1 and "xray_tracing_enabled=True" in found[0]


def test_stage_tracing_unknown_is_not_applicable_and_v2_stages_are_not_judged():
    with pytest.raises(_NotApplicableError):
        run_resource("apigateway-stage-tracing", STAGE, {"xrayTracingEnabled": U})
    assert run_resource("apigateway-stage-tracing", "aws:apigatewayv2/stage:Stage", {"name": "$default"}) == []
    assert run_resource("apigateway-stage-tracing", STAGE, {"xrayTracingEnabled": True}) == []


@pytest.mark.parametrize("props,violates", [
    ({}, True), ({"tracingConfiguration": {}}, True), ({"tracingConfiguration": {"enabled": False}}, True),
    ({"tracingConfiguration": {"enabled": True}}, False)])
def test_state_machine_tracing(props, violates):
    found = run_resource("stepfunctions-tracing-enabled", MACHINE, props)
    assert bool(found) is violates and all("tracing_configuration={'enabled': True}" in m for m in found)


def test_state_machine_tracing_unknown_is_not_applicable():
    with pytest.raises(_NotApplicableError):
        run_resource("stepfunctions-tracing-enabled", MACHINE, {"tracingConfiguration": U})


# -- sns-topic-tracing-active ----------------------------------------------------------------------

def _worker(mode="Active", **props):
    return res(FN, "worker", {"name": "worker", "arn": "arn:aws:lambda:us-east-1:123456789012:function:worker",
                              "tracingConfig": {"mode": mode} if mode else None, **props})


def _grant(principal="sns.amazonaws.com", actions=("xray:PutTraceSegments",)):
    return res(XRAY_POLICY, "grant", {"policyName": "g", "policyDocument": json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": principal}, "Action": list(actions), "Resource": "*"}]})})


def test_topic_linked_by_arn_to_a_traced_function_must_be_active():
    """Known ARNs (the run after the update): subscription topic -> topic by ARN, endpoint -> function by ARN."""
    topic = res(TOPIC, "requests", {"name": "requests", "arn": TOPIC_ARN})
    sub = res(SUB, "sub", {"topic": TOPIC_ARN, "protocol": "lambda",
                           "endpoint": "arn:aws:lambda:us-east-1:123456789012:function:worker:live"})
    found = run_stack("sns-topic-tracing-active", [_worker(), topic, sub, _grant()])
    assert [u for u, _ in found] == ["requests"] and "tracing_config='Active'" in found[0][1]
    assert "sub delivers to the traced function 'worker'" in found[0][1]


def test_topic_linked_by_property_dependencies_through_a_permission():
    """Preview: the permission's source_arn is unknown and depends on the topic; its function is the name."""
    topic = res(TOPIC, "requests", {"name": U, "tracingConfig": "PassThrough"})
    perm = res(PERM, "invoke", {"action": "lambda:InvokeFunction", "principal": "sns.amazonaws.com",
                                "function": "worker", "sourceArn": U}, pdeps={"sourceArn": [topic]})
    assert [u for u, _ in run_stack("sns-topic-tracing-active", [_worker(), topic, perm, _grant()])] == ["requests"]


@pytest.mark.parametrize("case", ["untraced function", "email protocol", "other principal", "unknown mode"])
def test_topics_that_feed_no_traced_function_or_are_unknown_are_not_judged(case):
    topic = res(TOPIC, "requests", {"name": "requests", "arn": TOPIC_ARN,
                                    "tracingConfig": U if case == "unknown mode" else None})
    fn = _worker(mode=None if case == "untraced function" else "Active")
    sub = res(SUB, "sub", {"topic": TOPIC_ARN, "protocol": "email" if case == "email protocol" else "lambda",
                           "endpoint": fn.props["arn"]})
    perm = res(PERM, "invoke", {"action": "lambda:InvokeFunction", "function": "worker", "sourceArn": TOPIC_ARN,
                                "principal": "events.amazonaws.com"})
    resources = [fn, topic, perm] + ([] if case == "other principal" else [sub])
    assert run_stack("sns-topic-tracing-active", resources) == []


@pytest.mark.parametrize("grant,ok", [
    ([], False), ([_grant()], True), ([_grant(principal="lambda.amazonaws.com")], False),
    ([_grant(actions=("xray:GetSampling*",))], False), ([_grant(actions=("xray:*",))], True),
    ([res(XRAY_POLICY, "g", {"policyDocument": U})], True)])
def test_active_topic_needs_an_xray_resource_policy_for_sns(grant, ok):
    """PRM-14: set through the API, Active tracing does not create X-Ray's resource policy for SNS. An unknown
    document (built from the account id at preview) may be right and is judged after the update."""
    topic = res(TOPIC, "requests", {"name": "requests", "arn": TOPIC_ARN, "tracingConfig": "Active"})
    sub = res(SUB, "sub", {"topic": TOPIC_ARN, "protocol": "lambda", "endpoint": "worker"})
    found = run_stack("sns-topic-tracing-active", [_worker(), topic, sub, *grant])
    assert (found == []) is ok, found
    assert ok or "aws.xray.ResourcePolicy" in found[0][1]
    assert run_stack("sns-topic-tracing-active", [_worker(), topic, sub, *grant],
                     config={"requireXrayResourcePolicy": False}) == []


# -- function-url-public-permissions ---------------------------------------------------------------

def _api():
    return res(FN, "api", {"name": "api-fn"})


def _perm(name, action, **props):
    return res(PERM, name, {"action": action, "principal": "*", "function": "api-fn", **props})


URL_GRANT = _perm("public", "lambda:InvokeFunctionUrl", functionUrlAuthType="NONE")
INVOKE_GRANT = _perm("invoke", "lambda:InvokeFunction", invokedViaFunctionUrl=True)


@pytest.mark.parametrize("perms,missing", [
    ([URL_GRANT, INVOKE_GRANT], []),
    ([URL_GRANT], ["'lambda:InvokeFunction'"]),
    ([INVOKE_GRANT], ["'lambda:InvokeFunctionUrl'"]),
    ([], ["'lambda:InvokeFunctionUrl'", "'lambda:InvokeFunction'"]),
    ([_perm("public", "lambda:InvokeFunctionUrl", functionUrlAuthType="AWS_IAM"), INVOKE_GRANT],
     ["'lambda:InvokeFunctionUrl'"]),
    ([_perm("p", "lambda:InvokeFunctionUrl", functionUrlAuthType="NONE", principal="123456789012"), INVOKE_GRANT],
     ["'lambda:InvokeFunctionUrl'"]),
    ([_perm("all", "lambda:*", functionUrlAuthType="NONE", invokedViaFunctionUrl=True)], []),
])
def test_none_url_needs_both_public_grants(perms, missing):
    """PRM-7: a NONE URL answers 403 until the resource policy grants '*' both actions."""
    url = res(URL, "api-url", {"functionName": "api-fn", "authorizationType": "NONE"})
    found = run_stack("function-url-public-permissions", [_api(), url, *perms])
    assert [u for u, _ in found] == (["api-url"] if missing else [])
    assert all(f"action={m}" in found[0][1] and "403" in found[0][1] for m in missing)


def test_public_invoke_not_limited_to_the_url_is_reported():
    url = res(URL, "api-url", {"functionName": "api-fn", "authorizationType": "NONE"})
    found = run_stack("function-url-public-permissions", [_api(), url, URL_GRANT, _perm("i", "lambda:InvokeFunction")])
    assert len(found) == 1 and "invoked_via_function_url=True" in found[0][1] and "403" not in found[0][1]


def test_url_qualifier_must_match_the_permissions():
    """A URL on alias 'live' needs grants on 'live'; grants on the unqualified function do not count."""
    url = res(URL, "api-url", {"functionName": "api-fn", "qualifier": "live", "authorizationType": "NONE"})
    assert [u for u, _ in run_stack("function-url-public-permissions", [_api(), url, URL_GRANT, INVOKE_GRANT])] == [
        "api-url"]
    live = [_perm("public", "lambda:InvokeFunctionUrl", functionUrlAuthType="NONE", function="api-fn:live"),
            _perm("invoke", "lambda:InvokeFunction", invokedViaFunctionUrl=True, qualifier="live")]
    assert run_stack("function-url-public-permissions", [_api(), url, *live]) == []


def test_url_and_permissions_linked_by_property_dependencies_at_preview():
    fn = res(FN, "api", {"name": U})
    url = res(URL, "api-url", {"functionName": U, "authorizationType": "NONE"}, pdeps={"functionName": [fn]})
    grants = [res(PERM, n, {**p.props, "function": U}, pdeps={"function": [fn]}) for n, p in
              (("public", URL_GRANT), ("invoke", INVOKE_GRANT))]
    assert run_stack("function-url-public-permissions", [fn, url, *grants]) == []
    assert [u for u, _ in run_stack("function-url-public-permissions", [fn, url, grants[0]])] == ["api-url"]


def test_iam_and_unknown_auth_urls_are_not_judged():
    for auth in ("AWS_IAM", U):
        url = res(URL, "api-url", {"functionName": "api-fn", "authorizationType": auth})
        assert run_stack("function-url-public-permissions", [_api(), url]) == []


def test_every_policy_has_its_page_and_a_row_in_the_readme():
    """Issue 11: the pack's docs list what it runs; a new policy comes with its page."""
    docs = REPO / "docs" / "policies"
    readme = (docs / "README.md").read_text()
    names = [p.name for p in build_policies()]
    assert [n for n in names if not (docs / f"{n}.md").is_file()] == []
    assert [n for n in names if f"[`{n}`]({n}.md)" not in readme] == []
    assert f"The {len(names)} policies" in readme
