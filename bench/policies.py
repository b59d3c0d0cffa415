"""Policy figures: ``python -m offline preview`` end to end (program under mocks + the pack over gRPC).

Every figure is the wall time of a fresh ``python -m offline preview`` process, as a user runs it; the
overhead ratio divides it by the same program in a fresh process under the mocks alone (no pack),
measured in this run (best of ``REPEATS`` each, to damp noise from other work on the machine).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._synthetic import REPO, write_program

REPEATS = 2

_MOCKS_ONLY = r'''
import sys
from offline.program import run_program
print(len(run_program(sys.argv[1], sys.argv[2], preview=True).records))
'''


def _wall(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    best, proc = float("inf"), None
    for _ in range(REPEATS):
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t)
    return best, proc


def preview(program: Path, stack: str) -> tuple[float, dict]:
    seconds, proc = _wall([sys.executable, "-m", "offline", "preview", "--program", str(program), "--stack", stack,
                           "--json"])
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"offline preview of {program} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return seconds, json.loads(proc.stdout)


def mocks_only(program: Path, stack: str) -> float:
    seconds, proc = _wall([sys.executable, "-c", _MOCKS_ONLY, str(program), stack])
    if proc.returncode:
        raise RuntimeError(f"mocks-only run of {program} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return seconds


def measure() -> list[tuple[str, object, str]]:
    figures: list[tuple[str, object, str]] = []
    with_pack, doc = preview(REPO, "prod")
    without = mocks_only(REPO, "prod")
    n = doc["summary"]["resources"]
    figures += [
        (f"offline preview, prod stack ({n} resources): wall time", with_pack, "s"),
        ("prod stack under mocks without the pack: wall time", without, "s"),
        ("policy overhead: preview with pack ÷ mocks only", with_pack / without, "target ≤ 1.3"),
        ("prod stack mandatory violations", doc["summary"]["mandatory"], "must be 0"),
    ]
    per_resource = {}
    with tempfile.TemporaryDirectory() as tmp:
        for target in (1000, 5000):
            d = Path(tmp) / f"n{target}"
            write_program(d, target)
            seconds, synth = preview(d, "bench")
            count = synth["summary"]["resources"]
            per_resource[target] = seconds / count * 1000
            figures.append((f"synthetic {count} resources, offline preview end to end", seconds,
                            "target ≤ 6 s" if target == 1000 else "s"))
            figures.append((f"synthetic {count} resources: ms per resource", per_resource[target], "ms"))
    figures.append(("growth: ms/resource at 5,000 ÷ at 1,000", per_resource[5000] / per_resource[1000],
                    "~1.0 means linear"))
    return figures
