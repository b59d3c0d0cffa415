"""Starting one of this package's modules as a process of its own (``python -m offline.<module>``): the same
interpreter, with this package importable whatever the working directory and ``PYTHONPATH`` of the runner."""
from __future__ import annotations

import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # the directory holding the ``offline`` package


def command(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])))
