"""``python -m offline preview --format text|json|sarif|junit|github`` (issue 11, "What CI pipelines expect"):
SARIF 2.1.0 that validates against the standard's schema, with one rule per policy; JUnit XML that a JUnit
consumer reads, one testcase per policy x resource; GitHub workflow annotations, escaped as GitHub reads them.
The findings rendered are the pack's verdicts on Active tracing (FR-013) and on absence alarms' missing-data
class (FR-045)."""
from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import junitparser
import pytest

from offline.formats import github, junit
from offline.formats.findings import split
from offline.formats.sarif import as_sarif
from offline.preview import run_preview
from tests.policies.conftest import PACK, PROGRAMS, REPO, _Shared, run_cli

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-2.1.0-rtm.5.json").read_text())
POLICY_PAGES = {p.stem for p in (REPO / "docs" / "policies").glob("*.md")} - {"README"}
TRACING = "lambda-tracing-active"
BATCH = {"resource": "batch", "reason": "batch job, traced by Step Functions", "expires": "2099-12-31"}


def _valid_sarif(doc: dict) -> dict:
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    return doc


@pytest.fixture
def positioned(pack_process, tmp_path):
    """A preview with ``source_positions`` (the registering program line) against the shared pack."""
    def run(program: str, config: dict | None = None):
        cfg = None
        if config is not None:
            cfg = tmp_path / "cfg.json"
            cfg.write_text(json.dumps(config))
        return run_preview(PROGRAMS / program, "test", pack_dir=PACK, pack_config=cfg, source_positions=True,
                           analyzer_factory=lambda *_a, **_k: _Shared(pack_process))
    return run


def test_prod_stack_sarif_validates_with_one_rule_per_policy_and_its_page():
    proc = run_cli("preview", "--format", "sarif")
    assert proc.returncode == 0, proc.stderr
    doc = _valid_sarif(json.loads(proc.stdout))
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == POLICY_PAGES  # every policy, and each has its page
    for rule in rules:
        assert rule["helpUri"] == (REPO / "docs" / "policies" / f"{rule['id']}.md").as_uri()
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning")
    assert run["results"] == []  # the prod stack passes every policy


def test_json_flag_is_the_json_format_and_the_docs_url_sets_help_uris(tmp_path):
    program = str(PROGRAMS / "tracing_passthrough")
    as_flag = run_cli("preview", "--stack", "test", "--program", program, "--json")
    as_format = run_cli("preview", "--stack", "test", "--program", program, "--format", "json")
    assert as_flag.returncode == as_format.returncode == 1, as_flag.stderr
    def same(doc: dict) -> tuple:  # what does not vary between two runs (timings and registration order do)
        return (sorted(doc), doc["pack"], doc["policies"], doc["suppressed"], sorted(r["urn"] for r in doc["resources"]),
                {k: v for k, v in doc["summary"].items() if k not in ("seconds", "timings")})

    assert same(json.loads(as_flag.stdout)) == same(json.loads(as_format.stdout))
    base = "https://example.test/repo/blob/main/docs/policies"
    sarif = run_cli("preview", "--stack", "test", "--program", program, "--format", "sarif", "--docs-url", base)
    rules = json.loads(sarif.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert {r["helpUri"] for r in rules if r["id"] == TRACING} == {f"{base}/{TRACING}.md"}


def test_unknown_format_is_refused_by_the_argument_parser():
    proc = run_cli("preview", "--format", "xml")
    assert proc.returncode == 2 and "invalid choice: 'xml'" in proc.stderr


def test_sarif_levels_rule_ids_and_locations(preview, positioned):
    advisory = _valid_sarif(as_sarif(preview("missing_data_class")))["runs"][0]
    assert [(r["ruleId"], r["level"]) for r in advisory["results"]] == [("alarm-missing-data-class", "warning")]
    rules = advisory["tool"]["driver"]["rules"]
    assert rules[advisory["results"][0]["ruleIndex"]]["id"] == "alarm-missing-data-class"

    result = positioned("suppressions", {TRACING: {"suppressions": [BATCH]}})
    run = _valid_sarif(as_sarif(result, root=REPO))["runs"][0]
    stale = next(r for r in run["results"] if r["locations"][0]["logicalLocations"][0]["name"] == "stale")
    assert stale["ruleId"] == TRACING and stale["level"] == "error" and "expired" in stale["message"]["text"]
    (logical,) = stale["locations"][0]["logicalLocations"]
    assert logical["fullyQualifiedName"].endswith("::aws:lambda/function:Function::stale")
    assert logical["kind"] == "resource" and logical["properties"]["type"] == "aws:lambda/function:Function"
    physical = stale["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "tests/policies/programs/suppressions/__main__.py",
                                            "uriBaseId": "SRCROOT"}
    line = (PROGRAMS / "suppressions" / "__main__.py").read_text().splitlines()[physical["region"]["startLine"] - 1]
    assert "aws.lambda_.Function(" in line  # the line that registers the function
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == REPO.as_uri() + "/"


def test_sarif_without_source_positions_has_logical_locations_only(preview):
    run = _valid_sarif(as_sarif(preview("tracing_passthrough")))["runs"][0]
    (location,) = run["results"][0]["locations"]
    assert "physicalLocation" not in location and location["logicalLocations"][0]["name"] == "api"


def test_junit_has_one_testcase_per_policy_and_resource_read_by_a_junit_consumer(preview, tmp_path):
    result = preview("suppressions", config={TRACING: {"suppressions": [BATCH]}})
    path = tmp_path / "policies.xml"
    path.write_text(junit.render(result))
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    enabled = {name for name, (level, _) in result.config.items() if level != "disabled"}
    assert set(suites) == enabled
    resources = len(result.run.records) + 1  # and the stack
    assert all(s.tests == resources for s in suites.values())
    cases = {c.name.rsplit("::", 1)[-1]: c for c in suites[TRACING]}
    failed = {n for n, c in cases.items() if any(isinstance(r, junitparser.Failure) for r in c.result)}
    assert failed == {"stale", "bare"} and suites[TRACING].failures == 2
    skipped = {n: r.message for n, c in cases.items() for r in c.result if isinstance(r, junitparser.Skipped)}
    assert set(skipped) == {"legacy", "semicolon", "batch"}
    assert skipped["batch"] == f"suppressed until 2099-12-31 (config suppressions[0]): {BATCH['reason']}"
    failure = next(r for r in cases["stale"].result if isinstance(r, junitparser.Failure))
    assert failure.type == "mandatory" and "expired on 2020-01-01" in failure.text
    assert xml.failures == sum(s.failures for s in suites.values())
    ET.fromstring(path.read_bytes())  # well-formed for any XML reader


def test_github_annotations_one_line_per_finding_with_file_line_and_escaping(positioned):
    result = positioned("suppressions", {TRACING: {"suppressions": [BATCH]}})
    violations, suppressed = split(result)
    lines = github.render(result).splitlines()
    assert len(lines) == len(violations) + len(suppressed) == 6
    errors = [ln for ln in lines if ln.startswith("::error ")]
    notices = [ln for ln in lines if ln.startswith("::notice ")]
    assert len(errors) == 2 and len(notices) == 4
    stale = next(ln for ln in errors if "Function stale:" in ln)
    props, message = stale[len("::error "):].split("::", 1)
    assert props.split(",") == [f"title={TRACING}", "file=tests/policies/programs/suppressions/__main__.py",
                                f"line={result.run.records[[r.name for r in result.run.records].index('stale')].source_line}"]
    assert "%0A" in message and "\n" not in message and "expired on 2020-01-01" in message


def test_github_escapes_percent_newlines_and_property_separators(preview):
    """GitHub's rules: ``%`` ``\\r`` ``\\n`` in the message; also ``:`` and ``,`` in properties (the title here)."""
    result = preview("tracing_passthrough")
    d = result.diagnostics[0]
    d.message, d.policy = "100% off\r\nnext", "odd:name,with"
    result.config[d.policy] = ("mandatory", {})
    (line,) = github.render(result).splitlines()
    assert line == "::error title=odd%3Aname%2Cwith::aws:lambda/function:Function api: 100%25 off%0D%0Anext"
