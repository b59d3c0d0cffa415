"""Starting one of this package's modules as a process of its own (``python -m offline.<module>``): the same
interpreter, with this package importable whatever the working directory and ``PYTHONPATH`` of the runner."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # the directory holding the ``offline`` package

#: How far below the runner's CPU priority the processes that work while its program runs are (the pack, the
#: feeder). A preview on two cores runs the program on one and three processes beside it; at the same priority
#: the scheduler put them on the program's core too, and the prod stack's program spent 150-180 ms of its 2.4 s
#: off the CPU (60-76 ms at 5, 44 ms at 19). Not lower: on a machine busy with other work, a process that low gets next
#: to no CPU, and the pack is what the runner waits for once the program is done.
BESIDE_THE_PROGRAM = 5
#: For a process whose work is only worth the CPU nobody else wants (the config check: the runner checks itself
#: if it has no answer when the program is done).
IDLE_ONLY = 19


def command(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])))


def lower_priority(increment: int) -> None:
    """This process's CPU priority ``increment`` below what it was (``nice``); where it cannot be, as it was."""
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice (Windows)
        os.nice(increment)
