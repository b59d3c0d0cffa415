"""Lambda size limits shared by every function component (names follow ``contract.naming``)."""
from __future__ import annotations

import re


def check_function(function: str, timeout_seconds: int, memory_mb: int) -> None:
    """Raise a ValueError that says what to change when a function's shape is outside Lambda's limits."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,30}", function):
        raise ValueError(f"function {function!r}: use 2-31 lowercase letters, digits or '-'")
    if not 1 <= timeout_seconds <= 900:
        raise ValueError(f"{function}: timeout_seconds must be 1..900, got {timeout_seconds}")
    if not 128 <= memory_mb <= 10240:
        raise ValueError(f"{function}: memory_mb must be 128..10240, got {memory_mb}")
