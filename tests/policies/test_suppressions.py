"""Suppressing one finding with a reason and an expiry (issue 11, "What CI pipelines expect"): by a resource tag
``policy-suppress:<policy>`` or a policy's ``suppressions`` config entry; reported, never silent; an expired,
reason-less or undated suppression is itself a violation that says so. The pack runs as the CLI runs it (a real
subprocess over gRPC, ``conftest.pack_process``); the suppressed findings reach the runner as advisory
diagnostics of the same policy, which is what ``pulumi preview --policy-pack`` shows. The findings suppressed are
the verdicts on Active tracing (FR-013) and on each function's Errors alarm (FR-040)."""
from __future__ import annotations

import pytest

from contract.suppression import KIND_EXTERNAL, KIND_IN_SOURCE, parse
from offline.formats.findings import split
from offline.formats.sarif import as_sarif
from offline.policy_driver import PackError
from offline.render import as_json, render_text

TRACING = "lambda-tracing-active"
BATCH = {"resource": "bat*", "reason": "batch job, traced by Step Functions", "expires": "2099-12-31"}


def _names(findings) -> set[tuple[str, str]]:
    return {(f.policy, f.name) for f in findings}


def test_tag_and_config_suppressions_leave_the_violations_and_are_listed_as_suppressed(preview):
    result = preview("suppressions", config={TRACING: {"suppressions": [BATCH]}})
    violations, suppressed = split(result)
    assert _names(violations) == {(TRACING, "stale"), (TRACING, "bare")}
    assert _names(suppressed) == {(TRACING, "legacy"), (TRACING, "semicolon"), (TRACING, "batch"),
                                  ("lambda-error-alarm", "quiet")}  # a stack policy's finding, too
    assert all(f.level == "mandatory" for f in suppressed)  # the level it would have without the suppression
    doc = as_json(result)
    assert {(p["policy"], p["urn"].rsplit("::", 1)[-1]) for p in doc["policies"]} == _names(violations)
    by_name = {s["urn"].rsplit("::", 1)[-1]: s for s in doc["suppressed"]}
    assert by_name["batch"] | {"message": ""} == {
        "policy": TRACING, "urn": by_name["batch"]["urn"], "level": "mandatory", "reason": BATCH["reason"],
        "expires": "2099-12-31", "kind": KIND_EXTERNAL, "source": "config suppressions[0]", "message": ""}
    assert by_name["legacy"]["kind"] == KIND_IN_SOURCE
    assert by_name["legacy"]["reason"] == "traced by the caller until the v2 handler"
    assert by_name["semicolon"]["reason"] == "sampled upstream"  # "<reason>; expires=..." as well
    assert doc["summary"]["suppressed"] == 4 and doc["summary"]["mandatory"] == 2
    text = render_text(result)
    assert "Suppressed (4)" in text and "2 mandatory" in text and "4 suppressed" in text
    assert all(name in text for name in ("legacy", "semicolon", "batch", "quiet"))


def test_a_suppressed_finding_reaches_the_engine_as_an_advisory_diagnostic_with_the_marker(preview):
    """What ``pulumi preview`` shows: the same policy, advisory (so the CLI does not fail), the marker line."""
    result = preview("suppressions", config={TRACING: {"suppressions": [BATCH]}})
    legacy = [d for d in result.diagnostics if d.urn.endswith("::legacy")]
    assert [(d.policy, d.level) for d in legacy] == [(TRACING, "advisory")]
    marker, message = parse(legacy[0].message)
    assert marker is not None and marker.expires == "2099-12-31" and "PassThrough" in message


def test_only_findings_on_suppressed_resources_are_suppressed_without_the_config_entry(preview):
    violations, suppressed = split(preview("suppressions"))
    assert (TRACING, "batch") in _names(violations) and (TRACING, "batch") not in _names(suppressed)


def test_expired_and_reason_less_suppressions_are_violations_that_say_so(preview):
    result = preview("suppressions")
    messages = {d.urn.rsplit("::", 1)[-1]: d.message for d in result.diagnostics if d.level == "mandatory"}
    assert "expired on 2020-01-01" in messages["stale"]
    assert "has no reason" in messages["bare"]
    assert result.exit_code == 1


@pytest.mark.parametrize("entry, says", [
    ({"resource": "batch", "expires": "2099-12-31"}, "has no reason"),
    ({"resource": "batch", "reason": "later"}, "has no expiry"),
    ({"resource": "batch", "reason": "later", "expires": "2027-02-30"}, "not a date"),
    ({"resource": "batch", "reason": "later", "expires": "2020-06-30"}, "expired on 2020-06-30"),
])
def test_a_config_suppression_that_does_not_hold_keeps_the_violation(preview, entry, says):
    result = preview("suppressions", config={TRACING: {"suppressions": [entry]}})
    batch = [d for d in result.diagnostics if d.urn.endswith("::batch")]
    assert [d.level for d in batch] == ["mandatory"] and says in batch[0].message, batch


def test_a_suppression_date_of_the_wrong_shape_is_a_one_line_config_error(preview):
    # The engine's form (validating policy config: <pack> <version>  <policy>: <path>: <error>), one line.
    with pytest.raises(PackError, match=r"^validating policy config: \S+ \S+  lambda-tracing-active: "
                                        r"suppressions\.0\.expires: Does not match pattern [^\n]*$"):
        preview("suppressions", config={TRACING: {"suppressions": [{"resource": "x", "reason": "r",
                                                                    "expires": "next year"}]}})


def test_sarif_carries_each_suppression_with_its_kind_and_justification(preview):
    sarif = as_sarif(preview("suppressions", config={TRACING: {"suppressions": [BATCH]}}))
    results = sarif["runs"][0]["results"]
    by_name = {r["locations"][0]["logicalLocations"][0]["name"]: r for r in results}
    assert by_name["batch"]["suppressions"] == [{"kind": "external", "justification": BATCH["reason"],
                                                 "properties": {"expires": "2099-12-31",
                                                                "source": "config suppressions[0]"}}]
    assert by_name["legacy"]["suppressions"][0]["kind"] == "inSource"
    assert by_name["legacy"]["level"] == "error"  # its policy's level: consumers show it as suppressed
    assert "suppressions" not in by_name["stale"]


def test_without_the_servicer_a_suppressed_finding_keeps_its_level():
    """A host that calls a policy's ``validate`` directly has no advisory reporter: the finding is reported at the
    policy's level, marker included, so a suppression can fail a run but never hide a finding."""
    from policies.xray_rules.suppressions import guarded

    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    props = {"tags": {f"policy-suppress:{TRACING}": "known expires=2099-12-31"}}
    guarded(report, TRACING, {}, lambda _urn: (props, ("fn",)))("bad", None)
    assert len(reported) == 1 and parse(reported[0][0])[0] is not None and reported[0][0].endswith("bad")
