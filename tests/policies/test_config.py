"""--policy-pack-config changes the outcome the way the engine's config reconciliation does: schema
defaults, then the pack's initial config, then the file; an explicit level for every policy; invalid
settings are rejected, as ``pulumi preview --policy-pack-config`` rejects them."""
from __future__ import annotations

import pytest

from contract import cost
from offline.policy_driver import PackError, PackInfo, PolicyInfo, reconcile_config
from tests.policies.conftest import violations


def test_disabling_a_policy_removes_its_violation(preview):
    result = preview("tracing_passthrough", config={"lambda-tracing-active": "disabled"})
    assert violations(result) == set() and result.exit_code == 0
    assert result.config["lambda-tracing-active"][0] == "disabled"


def test_lowering_a_level_to_advisory_keeps_the_finding_but_passes(preview):
    result = preview("tracing_passthrough", config={"lambda-tracing-active": {"enforcementLevel": "advisory"}})
    assert violations(result) == {("lambda-tracing-active", "advisory", "api")} and result.exit_code == 0


def test_changing_the_latency_band_changes_the_outcome(preview):
    """lambda-latency-alarm: a 50% threshold fails the default band (``contract.alarms.LATENCY_BAND``) and
    passes a 40-60% one."""
    assert violations(preview("latency_out_of_band"))
    result = preview("latency_out_of_band", config={"lambda-latency-alarm": {"minFraction": 0.4, "maxFraction": 0.6}})
    assert violations(result) == set()


def test_raising_the_budget_thresholds_reports_the_compliant_program(preview):
    """tracing-cost-budget: the compliant program notifies at the default thresholds; asking for more fails it."""
    more = [*cost.BUDGET_THRESHOLDS_USD, 2 * max(cost.BUDGET_THRESHOLDS_USD)]
    result = preview("compliant", config={"tracing-cost-budget": {"thresholdsUsd": more}})
    assert violations(result) == {("tracing-cost-budget", "advisory", "xray-budget")}


def test_all_mandatory_promotes_advisory_policies(preview):
    result = preview("missing_data_class", config={"all": "mandatory"})
    assert violations(result) == {("alarm-missing-data-class", "mandatory", "dlq-depth")} and result.exit_code == 1


def test_exemption_by_name_pattern(preview):
    result = preview("tracing_passthrough", config={"lambda-tracing-active": {"exemptNames": ["ap*"]}})
    assert violations(result) == set()


def test_remediate_level_rewrites_tracing_and_passes(preview):
    """lambda-tracing-active offers a remediation at level remediate (sets Active)."""
    result = preview("tracing_passthrough", config={"lambda-tracing-active": "remediate"})
    assert violations(result) == {("lambda-tracing-active", "remediate", "api")} and result.exit_code == 0


def _info():
    return PackInfo("p", "1.0.0", [PolicyInfo("a", "", "mandatory", "resource",
                                              {"limit": {"type": "integer", "default": 3}}, []),
                                   PolicyInfo("b", "", "advisory", "stack", {}, [])],
                    initial_config={"b": {"enforcementLevel": "mandatory"}})


def test_reconcile_defaults_initial_config_then_file():
    assert reconcile_config(_info(), {}) == {"a": ("mandatory", {"limit": 3}), "b": ("mandatory", {})}
    assert reconcile_config(_info(), {"all": "advisory", "a": {"limit": 5}}) == {
        "a": ("advisory", {"limit": 5}), "b": ("advisory", {})}


@pytest.mark.parametrize("bad,why", [({"a": {"limit": "x"}}, "limit"), ({"a": "sometimes"}, "enforcement level"),
                                     ({"a": 3}, "must be")])
def test_reconcile_rejects_invalid_config(bad, why):
    with pytest.raises(PackError, match=why):
        reconcile_config(_info(), bad)
