"""What the buffered-handler and canary tests observe of a handler without running it in Lambda mode.

No side effects at import (unlike ``conftest.py``, which starts the daemon stand-in and imports the handlers in
Lambda mode), so ``tests/canary`` can use it too.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any


class LogCapture(logging.Handler):
    """The JSON lines a Powertools ``Logger`` writes, parsed, in order (add it with ``logger.addHandler``)."""

    def __init__(self, formatter: logging.Formatter):
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def wrapper_layers(fn: Callable[..., Any]) -> list[str]:
    """The wrappers around an entry point, outermost first, named by the function each one's code belongs to.

    Every layer uses ``functools.wraps``, so ``__wrapped__`` leads inwards while ``__qualname__`` is copied from
    the handler; the code object's own qualified name tells the layers apart.
    """
    layers = []
    while hasattr(fn, "__wrapped__"):
        layers.append(fn.__code__.co_qualname)
        fn = fn.__wrapped__
    return layers
