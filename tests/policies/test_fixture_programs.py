"""Each policy of the pack rejects a small violating program with exactly its name at its level,
and a program full of tricky-but-compliant shapes passes (FR-013/017/020/038/040/041/044/045/046/047/
051/052/054/056/061, SC-016/017/022)."""
from __future__ import annotations

import pytest

from offline.render import as_json
from tests.policies.conftest import violations

#: fixture directory -> the one (policy, level, resource) it must produce
EXPECTED = {
    "tracing_passthrough": ("lambda-tracing-active", "mandatory", "api"),
    "error_alarm_wrong_function": ("lambda-error-alarm", "mandatory", "api"),
    "latency_out_of_band": ("lambda-latency-alarm", "mandatory", "api-p95-duration"),
    "streaming_exec_wrapper": ("streaming-no-exec-wrapper", "mandatory", "sse"),
    "streaming_otel_bad": ("streaming-otel-config", "mandatory", "sse"),
    "absence_by_shape": ("absence-alarm-breaching", "mandatory", "no-new-items"),
    "missing_data_class": ("alarm-missing-data-class", "advisory", "dlq-depth"),
    "alarm_no_actions": ("alarm-has-actions", "mandatory", "throttles"),
    "xray_permissions_missing": ("xray-write-permissions", "mandatory", "api"),
    "xray_name_too_long": ("xray-name-limits", "mandatory", "sse-reconnections"),
    "no_budget": ("tracing-cost-budget", "advisory", "fixtures-test"),
    "dashboard_missing_alarm": ("dashboard-shows-all-alarms", "advisory", "operations"),
    "canary_shared_role": ("canary-role-isolated", "mandatory", "canary"),
    "unknown_names": ("lambda-error-alarm", "mandatory", "orphan"),
}


@pytest.mark.parametrize("program", sorted(EXPECTED))
def test_violating_program_is_rejected_by_exactly_its_policy(preview, program):
    result = preview(program)
    policy, level, resource = EXPECTED[program]
    if program == "no_budget":  # a stack-level finding lands on the root Stack
        resource = f"{result.run.stack.project}-{result.run.stack.stack}"
    assert violations(result) == {(policy, level, resource)}, [d.message for d in result.diagnostics]
    assert result.exit_code == (1 if level == "mandatory" else 0)
    message = next(d.message for d in result.diagnostics)
    assert resource.split("-")[0] in message or policy in ("tracing-cost-budget",), message


def test_tricky_compliant_program_passes_every_policy(preview):
    """Alarm in another component, literal function name, metric-math Errors alarm, exec wrapper on a
    buffered function, inline wildcard X-Ray policy, absence alarm by shape that breaches, canary with
    its own role: no diagnostic at any level."""
    result = preview("compliant")
    assert result.diagnostics == [], [(d.policy, d.message) for d in result.diagnostics]
    assert len(result.run.records) > 30


def test_unknown_names_link_through_property_dependencies(preview):
    """Preview semantics: the function names are unknown, the alarms' FunctionName too; --json shows
    it, and the alarm of 'api' still links (no violation) while 'orphan' has none (B3)."""
    doc = as_json(preview("unknown_names"))
    by_name = {r["name"]: r for r in doc["resources"]}
    assert "name" in by_name["api"]["unknownInputs"]
    assert "dimensions.FunctionName" in by_name["api-errors"]["unknownInputs"]
    assert by_name["api-errors"]["propertyDependencies"]["dimensions"] == [by_name["api"]["urn"]]
    flagged = {(p["policy"], p["urn"].rsplit("::", 1)[-1]) for p in doc["policies"]}
    assert flagged == {("lambda-error-alarm", "orphan")}
    assert not any("can't run policy" in p["message"] for p in doc["policies"])


def test_update_mode_fills_computed_values_and_still_links(preview):
    """--update: ARNs known, apply callbacks run; the same linkage result."""
    result = preview("unknown_names", update=True)
    assert violations(result) == {("lambda-error-alarm", "mandatory", "orphan")}
    assert result.run.outputs["upper"].startswith("ARN:AWS:SQS")
