"""Each rule lives once, in ``contract/``: a second copy of it anywhere in the Python code is a test failure.

The sentinels are values that only a restatement of a rule would contain. User programs that the policy
tests feed to the pack (``tests/policies/programs``) are exempt: writing AWS values by hand is their point.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from contract import alarms, metrics, streaming, xray

ROOT = Path(__file__).resolve().parents[2]
EXEMPT = ("contract/", "tests/policies/programs/", "venv/", "build/", "tests/contract/")

SENTINELS = {
    "the X-Ray actions (contract.xray.XRAY_ACTIONS)": f'"{xray.XRAY_ACTIONS[-1]}"',
    "the streaming sampler (contract.streaming.SAMPLER)": f'"{streaming.SAMPLER}"',
    "the streaming propagator (contract.streaming.PROPAGATOR)": f'"{streaming.PROPAGATOR}"',
    "the streaming service name (contract.streaming.SERVICE_NAME)": f'"{streaming.SERVICE_NAME}"',
    "the collector endpoint (contract.streaming.COLLECTOR_ENDPOINT)": f'"{streaming.COLLECTOR_ENDPOINT}"',
    "the silent-failure namespace (contract.metrics)": f'"{metrics.SILENT_FAILURE_NAMESPACE}"',
    "the fallback metric (contract.metrics)": f'"{metrics.METRIC_FALLBACK_METRIC}"',
    "the fallback filter pattern (contract.metrics)": metrics.METRIC_FALLBACK_FILTER_PATTERN,
    "the alarm-class tag key (contract.alarms.CLASS_TAG)": f'"{alarms.CLASS_TAG}"',
    "the heartbeat metric (contract.metrics)": f'"{metrics.EMISSION_HEARTBEAT}"',
    "the SSE namespace (contract.metrics)": f'"{metrics.SSE_NAMESPACE}"',
}


def _python_files() -> list[Path]:
    return [p for p in ROOT.rglob("*.py")
            if not any(p.relative_to(ROOT).as_posix().startswith(e) for e in EXEMPT)]


@pytest.mark.parametrize("rule", sorted(SENTINELS))
def test_rule_is_written_only_in_the_contract(rule: str) -> None:
    sentinel = SENTINELS[rule]
    copies = [f"{p.relative_to(ROOT)}:{n}" for p in _python_files()
              for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if sentinel in line]
    assert not copies, f"{rule} is restated outside contract/: {copies}; import it from contract instead"


def test_the_policy_pack_reads_the_same_contract() -> None:
    """The pack is published from its own directory: its ``contract`` is a link to this very package."""
    link = ROOT / "policies" / "contract"
    assert link.is_symlink() and link.resolve() == (ROOT / "contract").resolve()
