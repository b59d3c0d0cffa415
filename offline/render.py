"""The preview result as the Pulumi CLI shows it (``render_text``) or as one JSON object (``as_json``); the other
formats CI reads (SARIF, JUnit, GitHub annotations) are in ``offline.formats``.

Suppressed findings (``offline.formats.findings``) are not violations: JSON lists them under ``suppressed``, the
text as a count with their names.

Unknown values print as the CLI prints them (``output<string>``; in JSON, the engine's unknown sentinel with
their paths listed), secret stack outputs as ``[secret]``.
"""
from __future__ import annotations

import copy
import json
from typing import Any

from offline.formats.findings import LEVEL_ORDER, Finding, count, split
from offline.mocks import UNKNOWN, ResourceRecord, unknown_paths, unknown_paths_in
from offline.policy_driver import Diagnostic
from offline.preview import PreviewResult
from offline.program import SECRET_MASK, RunResult


def _unknown_paths(value: Any) -> list[str]:
    return unknown_paths(value, whole=".")  # "." as `pulumi preview --json` names the whole value


_UNKNOWN_BYTES = UNKNOWN.encode()


def _unknown_inputs(record: ResourceRecord) -> list[str]:
    """Paths of the record's unknown inputs, read off the wire form: most records have none, and the sentinel's
    bytes not being in it says so at once (deserializing every record's inputs took 0.8 s per 10,000 records)."""
    if _UNKNOWN_BYTES not in record.inputs_struct.SerializeToString():
        return []
    return unknown_paths_in(record.inputs_struct, whole=".")


def _masked_outputs(run: RunResult) -> dict:
    """The stack outputs with every secret value replaced by ``[secret]``, as the CLI shows them."""
    out = copy.deepcopy(run.outputs)
    for path in sorted(getattr(run, "secret_outputs", []) or [], key=len):
        node = out
        try:
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = SECRET_MASK
        except (KeyError, IndexError, TypeError):
            continue  # inside a value masked already
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def as_json(result: PreviewResult) -> dict:
    resources = [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent or None, "custom": r.custom,
                  "dependencies": list(r.dependencies),
                  "propertyDependencies": {k: v for k, v in r.property_dependencies.items() if v},
                  "unknownInputs": _unknown_inputs(r)}
                 for r in result.run.records]
    violations, suppressed = split(result)
    return {
        "project": result.run.stack.project, "stack": result.run.stack.stack,
        "mode": "preview" if result.run.preview else "update",
        "pack": {"name": result.pack_name, "version": result.pack_version,
                 "levels": {name: level for name, (level, _) in sorted(result.config.items())}},
        "resources": resources,
        # Unknown leaves carry the engine's unknown sentinel, as in `pulumi preview --json`; their paths are
        # listed in unknownOutputs.
        "outputs": _jsonable(_masked_outputs(result.run)),
        "unknownOutputs": _unknown_paths(result.run.outputs),
        "policies": [f.diagnostic.as_json() for f in violations],
        "suppressed": [{"policy": f.policy, "urn": f.urn, "level": f.level, "reason": f.suppression.reason,
                        "expires": f.suppression.expires, "kind": f.suppression.kind, "source": f.suppression.source,
                        "message": f.message} for f in suppressed if f.suppression is not None],
        "notApplicable": result.not_applicable,
        "summary": {"resources": len(resources), "mandatory": count(violations, "mandatory"),
                    "advisory": count(violations, "advisory"), "remediated": count(violations, "remediate"),
                    "suppressed": len(suppressed),
                    "seconds": round(result.seconds, 3), "exitCode": result.exit_code,
                    "timings": {k: round(v, 3) for k, v in result.timings.items()}},
    }


def _render_value(value: Any, indent: str) -> str:
    """One output value the way the CLI prints it: unknowns as ``output<string>``."""
    def plain(v: Any) -> Any:
        if isinstance(v, str) and v == UNKNOWN:
            return "output<string>"
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return _jsonable(v)

    shown = plain(value)
    if isinstance(shown, str):
        return shown if shown in ("output<string>", "[secret]") else json.dumps(shown)
    return json.dumps(shown, indent=4).replace("\n", "\n" + indent)


def _type_of(urn: str) -> str:
    return urn.split("::")[2].rsplit("$", 1)[-1] if urn.count("::") >= 3 else ""


def violation_lines(d: Diagnostic) -> list[str]:
    """One violation as the CLI lists it under its pack: ``- [level]  policy  (type: name)``, then the message
    (the pack's description line, then what it reported), indented under it."""
    head = f"        - [{d.level}]  {d.policy}"
    if d.urn:
        head += f"  ({_type_of(d.urn)}: {d.urn.rsplit('::', 1)[-1]})"
    return [head] + [f"          {text}" for text in d.message.splitlines()]


def render_text(result: PreviewResult) -> str:
    s = result.run.stack
    lines = [f"Previewing {'update' if result.run.preview else 'post-update policy run'} ({s.stack}) of "
             f"{s.project}, offline: mock runtime, policy pack {result.pack_name}@v{result.pack_version}", ""]
    children: dict[str, list] = {}
    for r in result.run.records:
        children.setdefault(r.parent or result.root_urn, []).append(r)
    lines.append(f"     {'Type':<58} Name")
    lines.append(f" +   {'pulumi:pulumi:Stack':<58} {s.project}-{s.stack}")

    def walk(urn: str, indent: str) -> None:
        kids = sorted(children.get(urn, []), key=lambda r: (r.custom, r.type, r.name))  # components first
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = "└─ " if last else "├─ "
            label = f"{indent}{branch}{r.type}"
            lines.append(f" +   {label:<58} {r.name}")
            walk(r.urn, indent + ("   " if last else "│  "))

    walk(result.root_urn, "")
    lines.append("")
    lines.append("Policies:")
    violations, suppressed = split(result)
    by_level: dict[str, list[Finding]] = {}
    for f in violations:
        by_level.setdefault(f.level, []).append(f)
    if not violations:
        every_disabled = bool(result.config) and all(level == "disabled" for level, _ in result.config.values())
        verdict = "every policy is disabled, nothing was checked" if every_disabled else "all policies passed"
        lines.append(f"    {result.pack_name}@v{result.pack_version}: {verdict}")
    titles = {"mandatory": "Mandatory violations", "remediate": "Remediations applied",
              "advisory": "Advisory violations"}
    for level in LEVEL_ORDER:
        found = by_level.get(level, [])
        if not found:
            continue
        lines.append(f"    {titles[level]} ({len(found)}):")
        for f in found:
            lines += violation_lines(f.diagnostic)
    if suppressed:
        lines.append(f"    Suppressed ({len(suppressed)}), not violations while their suppressions hold:")
        for f in suppressed:
            assert f.suppression is not None  # split() puts only marked findings here
            lines.append(f"      [suppressed {f.level}]  {f.policy}  ({_type_of(f.urn)}: {f.name})  "
                         f"until {f.suppression.expires} by {f.suppression.source}: {f.suppression.reason}")
    lines.append("")
    outputs = _masked_outputs(result.run)
    if outputs:
        lines.append("Outputs:")
        for key in sorted(outputs):
            lines.append(f"    {key}: {_render_value(outputs[key], '    ')}")
        lines.append("")
    lines.append(f"Resources:\n    + {len(result.run.records) + 1} to create")
    lines.append("")
    verdict = "FAILED" if result.exit_code else "passed"
    lines.append(f"Summary: policy check {verdict}: {count(violations, 'mandatory')} mandatory, "
                 f"{count(violations, 'advisory')} advisory, {count(violations, 'remediate')} remediated, "
                 f"{len(suppressed)} suppressed; "
                 f"{len(result.run.records)} resources; {result.seconds:.1f} s")
    return "\n".join(lines)
