"""The preview as JUnit XML (Jenkins, GitLab, Azure DevOps test reports), with the standard library's ElementTree.

One ``testsuite`` per policy, one ``testcase`` per policy x resource (and the stack itself): a violation is a
``failure`` whose ``type`` is its level (``mandatory``, ``advisory``, ``remediate``: a report filters on it; the
exit status stays the gate); a suppressed finding and a policy that was not applicable are ``skipped`` with the
reason. No maintained library does this better than ElementTree: the
format is a handful of elements.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from offline.formats.findings import Finding, split
from offline.preview import PreviewResult


def _resources(result: PreviewResult) -> list[tuple[str, str]]:
    """(urn, label) of every resource and of the stack, in registration order."""
    root = result.root_urn
    return [(root, f"pulumi:pulumi:Stack::{root.rsplit('::', 1)[-1]}")] + [
        (r.urn, f"{r.type}::{r.name}") for r in result.run.records]


def as_junit(result: PreviewResult) -> ET.Element:
    violations, suppressed = split(result)
    found: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in violations:
        found[(f.policy, f.urn or result.root_urn)].append(f)
    skipped = {(f.policy, f.urn or result.root_urn): f for f in suppressed}
    not_applicable = {(n["policy"], n["urn"]): n.get("reason") or "not applicable" for n in result.not_applicable}
    resources = _resources(result)

    suites = ET.Element("testsuites", name=f"{result.pack_name}@v{result.pack_version}")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for policy, (level, _props) in sorted(result.config.items()):
        if level == "disabled":
            continue
        suite = ET.SubElement(suites, "testsuite", name=policy)
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for urn, label in resources:
            case = ET.SubElement(suite, "testcase", classname=f"{result.pack_name}.{policy}", name=label)
            counts["tests"] += 1
            key = (policy, urn)
            if key in found:
                first = found[key][0]  # sorted: the most severe first
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", type=first.level, message=first.message.splitlines()[-1])
                failure.text = "\n\n".join(f"[{f.level}] {f.message}" for f in found[key])
            elif key in skipped:
                s = skipped[key].suppression
                assert s is not None  # split() puts only marked findings in suppressed
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"suppressed until {s.expires} ({s.source}): {s.reason}")
            elif key in not_applicable:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"not applicable: {not_applicable[key]}")
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("errors", "0")
    for k, v in totals.items():
        suites.set(k, str(v))
    suites.set("errors", "0")
    suites.set("time", f"{result.seconds:.3f}")
    return suites


def render(result: PreviewResult) -> str:
    tree = as_junit(result)
    ET.indent(tree, space=" ")
    return ET.tostring(tree, encoding="unicode", xml_declaration=True)
