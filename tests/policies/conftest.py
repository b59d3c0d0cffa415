"""Fixtures for the policy layer.

Most tests run a fixture program in this process (``offline.program``) against ONE pack process for
the whole session, started exactly as the CLI starts it (``python -u -m pulumi.policy``) and re-
configured per test (``Configure`` replaces every level and setting, as the engine does per run).
A few tests run the real command in a subprocess: that is what users run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from offline.policy_driver import Analyzer, PolicyPackProcess
from offline.preview import PreviewResult, run_preview

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).resolve().parent / "programs"
PACK = REPO / "policies"


class _Shared(Analyzer):
    """The session's pack process as one preview's analyzer: its transport, never its ``close`` (run_preview
    closes its analyzer; ``Analyzer.close`` does nothing)."""

    def __init__(self, pack: PolicyPackProcess):
        self._pack = pack
        self.pack_dir = pack.pack_dir

    def _call(self, method: str, request: Any) -> Any:
        return self._pack._call(method, request)

    # The pack's own transports (offline.feeder for Analyze, AnalyzeStack as bytes), so the tests take the CLI's path.
    def _send_analyze(self, per_record):
        return self._pack._send_analyze(per_record)

    def _call_analyze_stack(self, request):
        return self._pack._call_analyze_stack(request)


@pytest.fixture(scope="session")
def pack_process():
    pack = PolicyPackProcess(PACK, project="fixtures", stack="test", dry_run=True, config={"aws:region": "us-east-1"})
    try:
        pack.wait_ready()
        yield pack
    finally:
        pack.close()


@pytest.fixture
def preview(pack_process, tmp_path):
    """``preview("fixture_dir", config={...}, update=False) -> PreviewResult`` against the shared pack."""

    def run(program: str | Path, *, config: dict | None = None, stack: str = "test",
            update: bool = False) -> PreviewResult:
        cfg_file = None
        if config is not None:
            cfg_file = tmp_path / "policy-config.json"
            cfg_file.write_text(json.dumps(config))
        directory = program if isinstance(program, Path) else PROGRAMS / program
        return run_preview(directory, stack, pack_dir=PACK, pack_config=cfg_file, update=update,
                           analyzer_factory=lambda *_a, **_k: _Shared(pack_process))

    return run


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m offline <args>`` as a user runs it (fresh interpreter, real pack subprocess); ``env`` adds to
    this process's environment."""
    return subprocess.run([sys.executable, "-m", "offline", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})})


def violations(result: PreviewResult) -> set[tuple[str, str, str]]:
    """(policy, level, resource name) of every diagnostic."""
    return {(d.policy, d.level, d.urn.rsplit("::", 1)[-1]) for d in result.diagnostics}
