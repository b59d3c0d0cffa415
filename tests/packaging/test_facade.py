"""Issue 11: ``xray_tracing``, the one import path another program uses, in this checkout."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import xray_tracing
from components.traced_lambda import TracedLambda
from contract.distribution import VERSION
from offline.preview import DEFAULT_PACK
from xray_tracing import api

REPO = Path(__file__).resolve().parents[2]


def test_issue11_facade_offers_every_listed_component_itself() -> None:
    assert xray_tracing.TracedLambda is TracedLambda
    missing = [name for name in api.__all__ if getattr(xray_tracing, name) is not getattr(api, name)]
    assert not missing
    assert xray_tracing.__version__ == VERSION


def test_issue11_facade_points_at_common_and_the_runner_default_pack() -> None:
    assert xray_tracing.COMMON_DIR.resolve() == (REPO / "handlers" / "common").resolve()
    assert xray_tracing.PACK_DIR.resolve() == DEFAULT_PACK.resolve()


def test_issue11_importing_the_facade_loads_no_component_until_one_is_used() -> None:
    code = ("import sys, xray_tracing, xray_tracing.cli; loaded = sorted(m for m in ('components', 'contract', "
            "'policies', 'pulumi') if m in sys.modules); print(loaded); xray_tracing.TracedLambda; "
            "print('components' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"]
