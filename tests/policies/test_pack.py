"""The pack as a whole: its policies grouped by concern, its defaults taken from ``contract`` (and
publishable on its own through the ``policies/contract`` link), and one stack index per ``AnalyzeStack``
call however many stack policies read it."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from pulumi_policy import StackValidationPolicy

from contract import alarms, cost, streaming, xray
from offline.policy_driver import InProcessAnalyzer
from offline.preview import _root_record, run_preview
from policies.xray_rules import CONCERNS, PACK_NAME, build_policies, define
from policies.xray_rules.stack_index import StackIndex
from tests.policies.conftest import PACK, PROGRAMS, REPO, violations

#: The pack's interface: these names, each exactly once.
POLICY_NAMES = {
    "lambda-tracing-active", "lambda-error-alarm", "lambda-latency-alarm", "streaming-no-exec-wrapper",
    "streaming-otel-config", "absence-alarm-breaching", "alarm-missing-data-class", "alarm-has-actions",
    "xray-write-permissions", "xray-name-limits", "tracing-cost-budget", "dashboard-shows-all-alarms",
    "canary-role-isolated", "apigateway-stage-tracing", "stepfunctions-tracing-enabled", "sns-topic-tracing-active",
    "function-url-public-permissions"}


def _policies() -> dict:
    return {p.name: p for p in build_policies()}


def test_policies_come_concern_by_concern():
    """One module per concern, in the order tracing, topics, alarms, streaming, function URLs, IAM, cost,
    dashboard; the pack lists their policies in that order, each concern's together."""
    assert [c.__name__.rsplit(".", 1)[-1] for c in CONCERNS] == [
        "tracing", "topics", "alarms", "streaming", "function_urls", "iam", "cost", "dashboard"]
    names = [p.name for p in build_policies()]
    assert sorted(names) == sorted(POLICY_NAMES)
    concern_of = {p.name: i for i, c in enumerate(CONCERNS) for p in c.policies()}
    assert [concern_of[n] for n in names] == sorted(concern_of[n] for n in names)


def test_schema_defaults_are_json():
    """The engine reconciles defaults with the user's JSON config: they must survive JSON unchanged."""
    for policy in build_policies():
        assert policy.config_schema is not None, policy.name
        properties = policy.config_schema.properties
        assert json.loads(json.dumps(properties)) == properties, policy.name


def test_defaults_and_descriptions_follow_the_contract(monkeypatch):
    """A default changes in one place: the contract. The schema default and the description follow."""
    monkeypatch.setattr(alarms, "LATENCY_BAND", (0.7, 0.95))
    monkeypatch.setattr(xray, "MAX_NAME_LENGTH", 40)
    monkeypatch.setattr(cost, "BUDGET_THRESHOLDS_USD", (5.0, 100.0))
    policies = _policies()
    latency, names, budget = (policies[n] for n in ("lambda-latency-alarm", "xray-name-limits", "tracing-cost-budget"))
    assert "70–95% of its timeout" in latency.description
    assert latency.config_schema.properties["minFraction"]["default"] == 0.7
    assert "at most 40 characters" in names.description
    assert "$5, $100" in budget.description
    assert budget.config_schema.properties["thresholdsUsd"]["default"] == [5.0, 100.0]


def test_pack_directory_is_self_contained(pack_process):
    """``policies/contract`` is the repository's ``contract`` package (a link, the same files), and the
    pack started the way the CLI starts it, from its own directory, reads its defaults from it."""
    link = PACK / "contract"
    assert link.is_symlink() and link.resolve() == (REPO / "contract").resolve()
    assert sorted(p.name for p in link.glob("*.py")) == sorted(p.name for p in (REPO / "contract").glob("*.py"))
    assert Path(os.readlink(f"/proc/{pack_process.proc.pid}/cwd")) == PACK.resolve()
    info = pack_process.configure_stack("fixtures", "test", "organization", True, {"aws:region": "us-east-1"})
    schema = {p.name: p.schema for p in info.policies}
    assert [p.name for p in info.policies] == [p.name for p in build_policies()]
    assert [schema["lambda-latency-alarm"][k]["default"] for k in ("minFraction", "maxFraction")] == list(
        alarms.LATENCY_BAND)
    assert schema["xray-name-limits"]["maxLength"]["default"] == xray.MAX_NAME_LENGTH
    assert schema["xray-write-permissions"]["actions"]["default"] == list(xray.XRAY_ACTIONS)
    assert schema["streaming-otel-config"]["expected"]["default"] == {k: list(v) for k, v in streaming.ACCEPTED.items()}
    assert schema["alarm-missing-data-class"]["classes"]["default"] == alarms.class_map()
    assert schema["tracing-cost-budget"]["thresholdsUsd"]["default"] == list(cost.BUDGET_THRESHOLDS_USD)


@pytest.fixture
def counted_index(monkeypatch):
    """Counts ``StackIndex`` builds and the stack policies that asked for an index."""
    counts = {"built": 0, "asked": 0}
    build, index_for = vars(StackIndex)["build"].__func__, define.index_for  # the function under the classmethod

    def counting_build(cls, resources, **kwargs):
        counts["built"] += 1
        return build(cls, resources, **kwargs)

    def counting_index_for(resources):
        counts["asked"] += 1
        return index_for(resources)

    monkeypatch.setattr(StackIndex, "build", classmethod(counting_build))
    monkeypatch.setattr(define, "index_for", counting_index_for)
    return counts


def test_stack_index_is_built_once_per_analyze_stack_call(counted_index):
    """Every stack policy of one call reads one index; the next call (another program) builds its own,
    so its verdicts are its own."""
    stack_policies = [p for p in build_policies() if isinstance(p, StackValidationPolicy)]

    def preview(program: str):
        before = dict(counted_index)
        analyzer = InProcessAnalyzer(PACK_NAME, build_policies(), version="0.1.0")
        result = run_preview(PROGRAMS / program, "test", pack_dir=PACK, analyzer_factory=lambda *_a, **_k: analyzer)
        return result, {k: counted_index[k] - before[k] for k in counted_index}

    flagged, counts = preview("error_alarm_wrong_function")
    assert violations(flagged) == {("lambda-error-alarm", "mandatory", "api")}
    assert counts == {"asked": len(stack_policies), "built": 1}
    clean, counts = preview("compliant")
    assert clean.diagnostics == []
    assert counts == {"asked": len(stack_policies), "built": 1}


def test_each_struct_is_converted_once_per_call_not_once_per_policy(monkeypatch):
    """Issue 11 (AnalyzeStack 80% in the SDK's per-policy building of the resources): in one ``AnalyzeStack``
    call every resource's props and each distinct provider's are turned into a dict once, however many stack
    policies run, and the verdicts are those of the unshared conversions."""
    from google.protobuf import json_format

    from policies.xray_rules import call_scope

    converted: list = []

    def counting(real):
        def count(message, *a, **k):
            converted.append(message)
            return real(message, *a, **k)
        return count

    # Structs are converted by struct_dict's walk, other messages by json_format: both are counted.
    monkeypatch.setattr(call_scope.json_format, "MessageToDict", counting(json_format.MessageToDict))
    monkeypatch.setattr(call_scope, "struct_to_dict", counting(call_scope.struct_to_dict))
    analyzer = InProcessAnalyzer(PACK_NAME, build_policies(), version="0.1.0")
    result = run_preview(PROGRAMS / "error_alarm_wrong_function", "test", pack_dir=PACK,
                         analyzer_factory=lambda *_a, **_k: analyzer)
    assert violations(result) == {("lambda-error-alarm", "mandatory", "api")}
    converted.clear()
    records = result.run.records
    analyzer.analyze_stack(records, result.root_urn)
    providers = {r.provider_resource.urn for r in records if r.provider_resource is not None}
    # Once each: every resource of the request (the records, and the default providers the engine lists among
    # them) and every distinct provider of a resource. Per policy, it would be as many times over.
    assert len(records) <= len(converted) <= len(records) + 2 * len(providers)
    stack_policies = [p for p in build_policies() if isinstance(p, StackValidationPolicy)]
    assert len(stack_policies) > 1  # else this test could not tell shared from per-policy conversions


def _odd_stack_policies() -> list:
    """Stack policies that take every path of the SDK's ``AnalyzeStack``: an async one that reports how each
    resource is linked (parent, dependencies, property dependencies, provider, options), one that reads a
    preview-time unknown, one not applicable, one at ``remediate`` (reported as mandatory), one disabled."""
    from pulumi_policy import EnforcementLevel

    async def links(args, report):
        for r in args.resources:
            report(f"{r.resource_type} parent={r.parent.urn if r.parent else None} "
                   f"deps={[d.urn for d in r.dependencies]} "
                   f"pdeps={ {k: [d.urn for d in v] for k, v in sorted(r.property_dependencies.items())} } "
                   f"provider={r.provider.urn if r.provider else None} protect={r.opts.protect}", r.urn)

    def unknown(args, _report):
        for r in args.resources:
            if r.resource_type == "aws:lambda/function:Function":
                str(r.props["role"])  # the role's ARN: unknown at preview, so UnknownValueError

    def not_applicable(args, _report):
        args.not_applicable("nothing to judge here")

    def always(args, report):
        report(f"{len(args.resources)} resources")

    levels = {"odd-links": EnforcementLevel.ADVISORY, "odd-unknown": EnforcementLevel.MANDATORY,
              "odd-not-applicable": EnforcementLevel.ADVISORY, "odd-remediate": EnforcementLevel.REMEDIATE,
              "odd-disabled": EnforcementLevel.DISABLED}
    checks = {"odd-links": links, "odd-unknown": unknown, "odd-not-applicable": not_applicable,
              "odd-remediate": always, "odd-disabled": always}
    return [StackValidationPolicy(name=name, description=f"{name} description", enforcement_level=levels[name],
                                  validate=checks[name]) for name in levels]


def test_analyze_stack_builds_the_resources_once_and_answers_as_the_sdk_does(monkeypatch):
    """Issue 11: ``call_scope._analyze_stack`` (the resources built once per call, not once per stack policy) gives
    the very response pulumi-policy's own ``AnalyzeStack`` gives on the same request: every diagnostic (the pack's
    and ones that print each resource's links), the unknown-at-preview advisory, the not-applicable answer, the
    remediate level reported as mandatory, nothing from a disabled policy; and every stack policy is handed the
    same resources."""
    from pulumi.runtime.proto import analyzer_pb2

    from policies.xray_rules import call_scope

    handed: list[list] = []

    def spy(args, _report):
        handed.append(args.resources)

    policies = build_policies() + _odd_stack_policies() + [
        StackValidationPolicy(name=f"spy-{i}", description="d", validate=spy) for i in range(2)]
    analyzer = InProcessAnalyzer(PACK_NAME, policies, version="0.1.0")
    result = run_preview(PROGRAMS / "error_alarm_wrong_function", "test", pack_dir=PACK,
                         analyzer_factory=lambda *_a, **_k: analyzer)
    requests: list[bytes] = []
    monkeypatch.setattr(analyzer, "_call_analyze_stack", requests.append)  # the request, as it would go out
    with pytest.raises(AttributeError):  # the spy answers None, which analyze_stack cannot read
        analyzer.analyze_stack([_root_record(result.run, result.root_urn), *result.run.records], result.root_urn)
    request = analyzer_pb2.AnalyzeStackRequest.FromString(requests[0])

    ours = analyzer.servicer.AnalyzeStack(request, None)
    assert call_scope.SDK_ANALYZE_STACK is not None
    handed.clear()
    sdks = call_scope._scoped(call_scope.SDK_ANALYZE_STACK)(analyzer.servicer, request, None)
    assert len(handed) == 2 and handed[0][0] is not handed[1][0]  # the SDK builds them anew for each policy
    assert ours == sdks
    by_policy = {d.policyName: d for d in ours.diagnostics}
    assert {"lambda-error-alarm", "odd-links", "odd-unknown", "odd-remediate"} <= set(by_policy)
    assert "odd-disabled" not in by_policy
    assert "during preview" in by_policy["odd-unknown"].message
    assert by_policy["odd-remediate"].enforcementLevel == analyzer_pb2.MANDATORY
    assert [n.policy_name for n in ours.not_applicable] == ["odd-not-applicable"]
    linked = [d.message for d in ours.diagnostics if d.policyName == "odd-links"]
    assert any("parent=urn:" in m for m in linked) and any(re.search(r"pdeps=\{'\w+': \['urn:", m) for m in linked)

    handed.clear()
    analyzer.servicer.AnalyzeStack(request, None)
    assert len(handed) == 2 and handed[0] is not handed[1]  # each policy its own list ...
    assert all(a is b for a, b in zip(handed[0], handed[1], strict=True))  # ... of the same resources, built once


def test_resource_policies_still_get_their_own_props():
    """Within one ``Analyze`` call the conversions are shared, the props objects are not: a policy that
    changes its props does not change what the next policy reads (the SDK's isolation, kept)."""
    from google.protobuf import struct_pb2
    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

    from offline.mocks import ResourceRecord

    seen: list[object] = []

    def scribble(args, _report):
        seen.append(dict(args.props))
        args.props["name"] = "changed"

    policies = build_policies() + [ResourceValidationPolicy(name=f"scribble-{i}", description="d", validate=scribble,
                                                            enforcement_level=EnforcementLevel.ADVISORY)
                                   for i in range(2)]
    analyzer = InProcessAnalyzer(PACK_NAME, policies, version="0.1.0")
    analyzer.configure_stack("p", "s", "organization", True, {})
    props = struct_pb2.Struct()
    props.update({"name": "original"})
    analyzer.analyze(ResourceRecord(type="aws:sns/topic:Topic", name="t", urn="urn:pulumi:s::p::aws:sns/topic:Topic::t",
                                    custom=True, parent="", dependencies=[], property_dependencies={},
                                    inputs_struct=props))
    assert seen == [{"name": "original"}, {"name": "original"}]
