"""--policy-pack-config changes the outcome the way the engine's config reconciliation does: schema
defaults, then the pack's initial config, then the file; an explicit level for every policy; invalid
settings are rejected, as ``pulumi preview --policy-pack-config`` rejects them."""
from __future__ import annotations

import sys
import threading
import time

import pytest

from contract import cost
from offline import config_schema
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


#: (policy, its properties' schemas, required, settings): a valid one, and one of each error the engine words.
_CHECKS: list[config_schema.Check] = [
    ("ok", {"limit": {"type": "integer"}}, [], {"limit": 3}),
    ("required", {"foo": {"type": "string"}}, ["foo"], {}),
    ("types", {"foo": {"type": "string", "maxLength": 3}, "bar": {"type": "integer"}}, [],
     {"foo": "this is too long", "bar": 3.14}),
    ("enum", {"foo": {"enum": ["bar", "baz"]}}, [], {"foo": "blah"}),
]


def test_issue11_the_checking_process_finds_what_this_process_finds():
    """The config check of a preview runs in a process of its own (``offline.config_schema``, so that jsonschema's
    imports leave the runner's core): its answer is the in-process check's, error for error."""
    here = config_schema.errors(_CHECKS)
    assert here[0] == [] and all(here[1:])  # the valid one passes, every other one fails
    checker = config_schema.Checker()
    assert checker.errors_elsewhere(_CHECKS) == here
    assert checker.proc is not None and checker.proc.returncode == 0  # answered by the process, not by a fallback


@pytest.mark.parametrize("command", [["/nonexistent/python"], [sys.executable, "-c", "print('[[]]')"],
                                     [sys.executable, "-c", "print('not json')"],
                                     [sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(3)"]],
                         ids=["cannot-start", "wrong-count", "not-json", "fails"])
def test_issue11_a_checking_process_that_cannot_answer_says_so(monkeypatch, command):
    """Not started, an answer of the wrong shape, not JSON, a failed process: ``None``, never errors it made up."""
    monkeypatch.setattr(config_schema.own_process, "command", lambda _module: command)
    checker = config_schema.Checker()
    assert checker.errors_elsewhere(_CHECKS) is None


#: A checking process that never answers (one that gets no CPU on a busy machine looks the same to the runner).
_SILENT = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_issue11_a_silent_checking_process_is_given_up_when_the_caller_stops_waiting(monkeypatch):
    """The wait for the checking process ends when ``give_up`` is set (the program is done), not after the answer
    timeout: the process is killed and the caller checks in its own process."""
    monkeypatch.setattr(config_schema.own_process, "command", lambda _module: _SILENT)
    monkeypatch.setattr(config_schema, "ANSWER_TIMEOUT_SECONDS", 300.0)
    checker, give_up = config_schema.Checker(), threading.Event()
    threading.Timer(0.3, give_up.set).start()
    started = time.monotonic()
    assert checker.errors_elsewhere(_CHECKS, give_up=give_up) is None
    assert time.monotonic() - started < 60  # 0.3 s and a poll; not the 300 s timeout
    assert checker.proc is not None and checker.proc.poll() is not None  # killed, not left behind


def test_issue11_a_silent_checking_process_does_not_hold_the_preview(preview, monkeypatch):
    """A checking process with no answer (a loaded CI runner gives a process at the lowest priority no CPU) holds
    the preview no longer than its program: then the runner checks itself, with the same errors and verdicts."""
    monkeypatch.setattr(config_schema.own_process, "command", lambda _module: _SILENT)
    monkeypatch.setattr(config_schema, "ANSWER_TIMEOUT_SECONDS", 300.0)
    started = time.monotonic()
    with pytest.raises(PackError, match="lambda-latency-alarm: minFraction: Invalid type. Expected: number, given: string"):
        preview("latency_out_of_band", config={"lambda-latency-alarm": {"minFraction": "low"}})
    result = preview("tracing_passthrough", config={"lambda-tracing-active": {"enforcementLevel": "advisory"}})
    assert violations(result) == {("lambda-tracing-active", "advisory", "api")}
    assert time.monotonic() - started < 150  # two previews of a few seconds each; the timeout would be 600 s


def test_issue11_without_the_checking_process_the_preview_checks_after_the_program(preview, monkeypatch):
    """If the checking process gives no answer, the preview checks in its own process once the program is done (an
    import while the program runs could miss its module): the same errors, and valid config the same verdicts."""
    from offline import preview as preview_module

    programs_done: list[bool] = []
    checked_after: list[bool] = []
    run_program, real = preview_module._run_program_quietly, config_schema.errors

    def program(*args, **kwargs):
        try:
            return run_program(*args, **kwargs)
        finally:
            programs_done.append(True)

    def here(checks):
        checked_after.append(len(programs_done) == len(checked_after) + 1)  # this preview's program has ended
        return real(checks)

    monkeypatch.setattr(preview_module, "_run_program_quietly", program)
    monkeypatch.setattr(config_schema.Checker, "errors_elsewhere", lambda self, checks, give_up=None: None)
    monkeypatch.setattr(config_schema, "errors", here)
    with pytest.raises(PackError, match="lambda-latency-alarm: minFraction: Invalid type. Expected: number, given: string"):
        preview("latency_out_of_band", config={"lambda-latency-alarm": {"minFraction": "low"}})
    result = preview("tracing_passthrough", config={"lambda-tracing-active": {"enforcementLevel": "advisory"}})
    assert violations(result) == {("lambda-tracing-active", "advisory", "api")}
    assert checked_after == [True, True]
