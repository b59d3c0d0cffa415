"""The preview as a SARIF 2.1.0 log (GitHub code scanning, Azure DevOps, IDE viewers), built with ``sarif-om``.

One rule per policy of the pack (id = the policy's name, its description, its page, its configured level), one
result per finding: ``error`` for mandatory, ``warning`` for advisory, ``note`` for an applied remediation; a
suppressed finding is a result at its policy's level with ``suppressions[]`` (``inSource`` for a resource tag,
``external`` for the pack config; status ``accepted``), which consumers show apart and do not fail on. Each
result names the resource as a logical location (URN, name, type) and, where the SDK gave one, the program line
that registered it as a physical location (relative to ``SRCROOT``, the working directory, when under it).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attr
import sarif_om as om

from offline.formats.findings import Finding, docs_uri, split
from offline.preview import PreviewResult

VERSION = "2.1.0"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
#: SARIF result level for each enforcement level (``remediate``: the pack fixed the inputs, a note remains).
LEVELS = {"mandatory": "error", "advisory": "warning", "remediate": "note", "disabled": "none"}
SRCROOT = "SRCROOT"
# Kept even when equal to sarif-om's default ("warning"): a reader should not need the spec to know the level.
_EXPLICIT = frozenset({"level"})


_FIELDS: dict[type, tuple[tuple[str, str, Any], ...]] = {}


def _fields(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """(attribute, SARIF property, default) of a sarif-om class, once per class; a kept-explicit field's default
    is None."""
    if cls not in _FIELDS:
        out = []
        for f in attr.fields(cls):
            default = f.default.factory() if isinstance(f.default, attr.Factory) else f.default  # type: ignore[arg-type]
            out.append((f.name, f.metadata.get("schema_property_name", f.name), None if f.name in _EXPLICIT else default))
        _FIELDS[cls] = tuple(out)
    return _FIELDS[cls]


def _jsonable(obj: Any) -> Any:
    """sarif-om objects as SARIF JSON: schema property names, unset (default) fields left out. (jschema-to-python's
    ``to_json`` does the same but also drops a level equal to the default, and deep-copies every object.)"""
    if obj is None or isinstance(obj, (str, int, float)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    out = {}
    for name, prop, default in _fields(type(obj)):  # a sarif-om (attrs) object
        value = getattr(obj, name)
        if value is None or (default is not None and value == default):
            continue
        out[prop] = _jsonable(value)
    return out


def _first_sentence(text: str) -> str:
    head = text.strip().split("\n", 1)[0]
    cut = head.find(". ")
    return head[:cut + 1] if cut > 0 else head


def _rules(result: PreviewResult, docs_base: str | None) -> list[om.ReportingDescriptor]:
    infos = {p.name: p for p in result.policies}
    rules = []
    for name, (level, _props) in sorted(result.config.items()):
        description = infos[name].description if name in infos else name
        rules.append(om.ReportingDescriptor(
            id=name, name=name, short_description=om.MultiformatMessageString(text=_first_sentence(description)),
            full_description=om.MultiformatMessageString(text=description), help_uri=docs_uri(name, docs_base),
            default_configuration=om.ReportingConfiguration(level=LEVELS.get(level, "warning"),
                                                            enabled=level != "disabled"),
            properties={"enforcementLevel": level, "kind": infos[name].kind if name in infos else "resource"}))
    return rules


def _location(f: Finding, root: Path) -> om.Location:
    logical = om.LogicalLocation(name=f.name, fully_qualified_name=f.urn, kind="resource",
                                 properties={"type": f.type})
    physical = None
    src = f.source
    if src is not None:
        rel = src.relative(root)
        artifact = om.ArtifactLocation(uri=rel, uri_base_id=SRCROOT) if not rel.startswith("/") \
            else om.ArtifactLocation(uri=src.path.as_uri())
        physical = om.PhysicalLocation(artifact_location=artifact, region=om.Region(start_line=src.line))
    return om.Location(logical_locations=[logical], physical_location=physical)


def _result(f: Finding, rule_index: dict[str, int], root: Path) -> om.Result:
    suppressions = None
    if f.suppression is not None:
        s = f.suppression
        suppressions = [om.Suppression(kind=s.kind, justification=s.reason,
                                       properties={"expires": s.expires, "source": s.source})]
    return om.Result(rule_id=f.policy, rule_index=rule_index.get(f.policy, -1), level=LEVELS.get(f.level, "warning"),
                     message=om.Message(text=f.message), locations=[_location(f, root)], suppressions=suppressions,
                     properties={"enforcementLevel": f.level})


def as_sarif(result: PreviewResult, *, docs_base: str | None = None, root: Path | None = None) -> dict:
    root = (root or Path.cwd()).resolve()
    violations, suppressed = split(result)
    rules = _rules(result, docs_base)
    index = {r.id: i for i, r in enumerate(rules)}
    run = om.Run(
        tool=om.Tool(driver=om.ToolComponent(name=result.pack_name, version=result.pack_version, rules=rules,
                                             information_uri=docs_uri("README", docs_base))),
        original_uri_base_ids={SRCROOT: om.ArtifactLocation(uri=root.as_uri() + "/")},
        invocations=[om.Invocation(execution_successful=True, exit_code=result.exit_code,
                                   working_directory=om.ArtifactLocation(uri=root.as_uri() + "/"))],
        results=[_result(f, index, root) for f in violations + suppressed],
        properties={"project": result.run.stack.project, "stack": result.run.stack.stack,
                    "mode": "preview" if result.run.preview else "update"})
    return _jsonable(om.SarifLog(version=VERSION, schema_uri=SCHEMA_URI, runs=[run]))


def render(result: PreviewResult, *, docs_base: str | None = None) -> str:
    # Compact: with an indent the json module encodes in Python, several times slower on a large stack's log.
    return json.dumps(as_sarif(result, docs_base=docs_base), separators=(",", ":"))
