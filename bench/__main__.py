"""`python -m bench`: the project's performance figures, measured in one run.

Every module in this package that defines ``measure() -> list[tuple[str, float | str, str]]`` (label,
value, unit or target note) contributes its figures; ratios are computed inside one run so that they
compare like with like on the same machine. ``python -m bench infra policies`` runs only those modules.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))
    if {"-h", "--help"} & set(argv):
        print(f"usage: python -m bench [module ...]   (modules: {', '.join(names)}; none given: all)\n\n{__doc__}")
        return 0
    chosen = [n for n in names if not argv or n in argv]
    unknown = set(argv) - set(names)
    if unknown:
        print(f"unknown bench module(s): {', '.join(sorted(unknown))}; choose from {', '.join(names)}", file=sys.stderr)
        return 2
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "measure"):
            continue
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        for label, value, note in module.measure():
            shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
            print(f"  {label:<62} {shown:>14}  {note}", flush=True)
        print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
