"""Fixtures for the infra layer: the program and single components under the recording mock runtime.

The runtime is ``offline.program`` (the same one ``python -m offline preview`` uses), so the URNs,
parents and property dependencies asserted here are the ones the policy pack sees.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from offline.mocks import UNKNOWN, ResourceRecord
from offline.program import RunResult, run_callable, run_program

REPO = Path(__file__).resolve().parents[2]
FUNCTION = "aws:lambda/function:Function"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


class StackView:
    """Read-only queries over one run's records, named for what the tests ask."""

    def __init__(self, result: RunResult):
        self.result = result
        self.records = result.records
        self.by_urn = {r.urn: r for r in self.records}
        self._by_type: dict[str, list[ResourceRecord]] = defaultdict(list)
        for r in self.records:
            self._by_type[r.type].append(r)

    def of_type(self, type_token: str) -> list[ResourceRecord]:
        return list(self._by_type.get(type_token, []))

    def one(self, type_token: str, predicate: Callable[[ResourceRecord], bool] = lambda r: True) -> ResourceRecord:
        found = [r for r in self.of_type(type_token) if predicate(r)]
        assert len(found) == 1, f"expected one {type_token}, found {[r.name for r in found]}"
        return found[0]

    def functions(self) -> list[ResourceRecord]:
        return self.of_type(FUNCTION)

    def alarms(self) -> list[ResourceRecord]:
        return self.of_type(ALARM)

    def alarms_for(self, function: ResourceRecord) -> list[ResourceRecord]:
        name = function.inputs["name"]
        return [a for a in self.alarms() if _dims_mention(a.inputs, name)]

    def ancestors(self, record: ResourceRecord) -> list[ResourceRecord]:
        out, parent = [], self.by_urn.get(record.parent)
        while parent is not None:
            out.append(parent)
            parent = self.by_urn.get(parent.parent)
        return out

    def depends_on(self, record: ResourceRecord, prop: str) -> list[ResourceRecord]:
        return [self.by_urn[u] for u in record.property_dependencies.get(prop, []) if u in self.by_urn]

    def streaming_function_urns(self) -> set[str]:
        return {f.urn for url in self.of_type("aws:lambda/functionUrl:FunctionUrl")
                if url.inputs.get("invokeMode") == "RESPONSE_STREAM"
                for f in self.depends_on(url, "functionName")}


def _dims_mention(inputs: dict, name: str) -> bool:
    if (inputs.get("dimensions") or {}).get("FunctionName") == name:
        return True
    return any(((q.get("metric") or {}).get("dimensions") or {}).get("FunctionName") == name
               for q in inputs.get("metricQueries") or [])


def policy_actions(policy_json: Any) -> set[str]:
    doc = json.loads(policy_json) if isinstance(policy_json, str) else policy_json
    actions: set[str] = set()
    for st in doc["Statement"]:
        acts = st["Action"]
        actions.update([acts] if isinstance(acts, str) else acts)
    return actions


def is_unknown(value: Any) -> bool:
    return value == UNKNOWN or type(value).__name__ == "Unknown"


@pytest.fixture(scope="session")
def prod() -> StackView:
    return StackView(run_program(REPO, "prod", preview=True))


@pytest.fixture(scope="session")
def dev() -> StackView:
    return StackView(run_program(REPO, "dev", preview=True))


@pytest.fixture(scope="session")
def prod_deployed() -> StackView:
    """The prod stack as after ``pulumi up``: create-time values (ARNs, URLs) known."""
    return StackView(run_program(REPO, "prod", preview=False))


@pytest.fixture(params=["prod", "dev"])
def stack(request) -> StackView:
    return request.getfixturevalue(request.param)


@pytest.fixture
def run_component() -> Callable[..., StackView]:
    """Run a callable that builds components, as its own tiny program; returns its StackView."""
    def run(build: Callable[[], Any], *, preview: bool = True) -> StackView:
        return StackView(run_callable(build, preview=preview))
    return run


@pytest.fixture
def code_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A minimal handler directory and a common package, for components tested alone."""
    code, common = tmp_path / "fn", tmp_path / "common"
    code.mkdir()
    common.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (common / "__init__.py").write_text("")
    return code, common


def records_named(records: Iterable[ResourceRecord]) -> dict[str, ResourceRecord]:
    return {r.name: r for r in records}
