"""Reading resource properties the way the engine hands them over, without ever tripping.

Props arrive wrapped in pulumi-policy's unknown-checking proxy (any access to a preview-time unknown
raises ``UnknownValueError``), as ``Mapping``/``Sequence`` proxies rather than ``dict``/``list``, with
secrets unwrapped (Analyze) or wrapped in ``Secret`` (Remediate), and numbers as floats. ``plain``
turns all of that into ordinary Python values once, with the module-level ``UNKNOWN`` marker wherever
the engine did not know the value, so the rules can decide deliberately what an unknown means.
"""
from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError, _is_unknown

try:  # the Remediate path wraps secrets in this type
    from pulumi_policy.secret import Secret
except ImportError:  # pragma: no cover - older SDKs
    Secret = None  # type: ignore


class _Unknown:
    """A value the engine cannot know yet (preview); falsy, equal only to itself."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> tuple:
        return (_Unknown, ())


UNKNOWN = _Unknown()


def is_unknown(value: Any) -> bool:
    """The marker, or a raw engine sentinel (Remediate props are not unknown-checked)."""
    return value is UNKNOWN or _is_unknown(value)


def plain(value: Any) -> Any:
    """Deep copy of ``value`` as dict/list/scalars, with ``UNKNOWN`` for every unknown leaf."""
    if Secret is not None and isinstance(value, Secret):
        value = value.value
    if isinstance(value, str):
        return UNKNOWN if _is_unknown(value) else value
    if isinstance(value, Mapping):
        out = {}
        for key in list(iter(value)):
            try:
                item = value[key]
            except UnknownValueError:
                out[key] = UNKNOWN
                continue
            except (KeyError, TypeError):
                continue
            out[key] = plain(item)
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        out_list = []
        for i in range(len(value)):
            try:
                out_list.append(plain(value[i]))
            except UnknownValueError:
                out_list.append(UNKNOWN)
        return out_list
    return value


def dig(value: Any, *path: Any, default: Any = None) -> Any:
    """``value[p0][p1]...`` on plain data; ``UNKNOWN`` if any step is unknown, ``default`` if absent."""
    for step in path:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return default
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return default
            value = value[step]
    return value


def as_list(value: Any) -> Any:
    """A list for list values, ``[value]`` for a scalar, ``[]`` for None; ``UNKNOWN`` stays unknown."""
    if value is UNKNOWN:
        return UNKNOWN
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def as_number(value: Any) -> Any:
    """A float for numbers and numeric strings, ``UNKNOWN`` for unknown, None otherwise (booleans too)."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_json(value: Any) -> Any:
    """A JSON document given as a string (IAM policies, dashboard bodies) or already as an object."""
    if value is UNKNOWN or value is None:
        return value
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, str):
        try:
            return plain(json.loads(value))
        except ValueError:
            return None
    return None


def matches_any(patterns: Iterable[str], *names: Any) -> bool:
    """Glob match (``fnmatch``, case-sensitive) of any known name against any pattern."""
    pats = [p for p in patterns or () if isinstance(p, str)]
    return any(isinstance(n, str) and fnmatch.fnmatchcase(n, p) for n in names for p in pats)


def describe(value: Any) -> str:
    """A value as a violation message shows it."""
    if value is None:
        return "not set"
    if value is UNKNOWN:
        return "unknown"
    return repr(value)
