"""Output formats of ``python -m offline preview --format``: what CI pipelines read (issue 11).

One module per format: ``sarif`` (code scanning), ``junit`` (test reports), ``github`` (workflow annotations);
``text`` and ``json`` are ``offline.render``'s. All of them read the findings through ``findings``, where
suppressed findings are told apart from violations once.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # importing the preview loads Pulumi, which `--help` (reading FORMATS) does not need
    from offline.preview import PreviewResult

FORMATS = ("text", "json", "sarif", "junit", "github")


def render(result: PreviewResult, fmt: str, *, docs_base: Optional[str] = None) -> str:
    """The preview in format ``fmt`` (one of ``FORMATS``)."""
    from offline.formats import github, junit, sarif
    from offline.render import as_json, render_text  # render reads findings, a module of this package

    renderers: dict[str, Callable[[], str]] = {
        "text": lambda: render_text(result),
        "json": lambda: json.dumps(as_json(result), indent=1),
        "sarif": lambda: sarif.render(result, docs_base=docs_base),
        "junit": lambda: junit.render(result),
        "github": lambda: github.render(result),
    }
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return renderers[fmt]()
