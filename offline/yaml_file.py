"""Reading the YAML files a run starts from (``Pulumi.yaml``, ``Pulumi.<stack>.yaml``, ``PulumiPolicy.yaml``):
a broken one is a one-line error naming the file and the line, in the caller's error class."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def _line_of_key(text: str, key: str) -> int:
    """1-based line of the top-level ``key`` (1 when it cannot be found)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:  # pragma: no cover - the text loaded already
        return 1
    if isinstance(root, yaml.MappingNode):
        for key_node, _value in root.value:
            if getattr(key_node, "value", None) == key:
                return int(key_node.start_mark.line) + 1
    return 1


def load_mapping(path: Path, error: Callable[[str], Exception], *, mappings: tuple[str, ...] = ()) -> dict[str, Any]:
    """The top-level mapping of ``path`` (empty for an empty file); each key of ``mappings`` present must hold a
    mapping too. Anything else raises ``error(<one line>)``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        what = exc.problem or exc.context or "unreadable"
        if exc.context and exc.problem and exc.context_mark is not None:
            what += f", {exc.context} at line {exc.context_mark.line + 1}"
        raise error(f"{where}: invalid YAML: {what}; fix the file") from None
    except yaml.YAMLError as exc:  # pragma: no cover - every parser error carries a mark
        raise error(f"{path}: invalid YAML ({' '.join(str(exc).split())}): fix the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}:1: must be a mapping of 'key: value' lines, not a YAML {type(data).__name__}")
    for key in mappings:
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise error(f"{path}:{_line_of_key(text, key)}: '{key}' must be a mapping of 'key: value' lines, "
                        f"not a YAML {type(data[key]).__name__}")
    return data
