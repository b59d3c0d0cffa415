"""Infra figures: the prod stack and synthetic stacks under the mock runtime (no policy pack).

Each run is a fresh subprocess so its wall time includes imports and its peak RSS is its own; these are
the baselines the policy overhead ratio (bench/policies.py) divides by.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._synthetic import REPO, write_program

_CHILD = r'''
import json, os, resource, sys, time
t0 = time.perf_counter()
from offline.program import run_program
result = run_program(sys.argv[1], sys.argv[2], preview=True)
print(json.dumps({"seconds": time.perf_counter() - t0, "resources": len(result.records),
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
# Ended as `python -m offline` ends (no interpreter teardown), so the preview's overhead ratio compares like with like.
os._exit(0)
'''


def run_under_mocks(program_dir: Path, stack: str) -> dict:
    """Run one program under mocks in a fresh interpreter; wall time, resources, peak RSS."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(program_dir), stack], cwd=REPO, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure() -> list[tuple[str, object, str]]:
    figures = []
    prod = run_under_mocks(REPO, "prod")
    figures += [(f"prod stack under mocks: wall time ({prod['resources']} resources)", prod["seconds"], "s"),
                ("prod stack under mocks: peak RSS", prod["max_rss_mb"], "MB")]
    with tempfile.TemporaryDirectory() as tmp:
        per_resource = {}
        for n in (1000, 5000):
            d = Path(tmp) / f"n{n}"
            write_program(d, n)
            r = run_under_mocks(d, "bench")
            per_resource[n] = r["seconds"] / r["resources"] * 1000
            figures += [(f"synthetic {r['resources']} resources under mocks: wall time", r["seconds"], "s"),
                        (f"synthetic {r['resources']} resources under mocks: peak RSS", r["max_rss_mb"], "MB")]
        figures.append(("growth: ms/resource at 5,000 ÷ ms/resource at 1,000", per_resource[5000] / per_resource[1000],
                        "~1.0 means linear"))
    return figures
