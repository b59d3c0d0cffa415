"""Output formats of ``python -m offline preview --format``: what CI pipelines read (issue 11).

One module per format: ``sarif`` (code scanning), ``junit`` (test reports), ``github`` (workflow annotations);
``text`` and ``json`` are ``offline.render``'s. All of them read the findings through ``findings``, where
suppressed findings are told apart from violations once.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # importing the preview loads Pulumi, which `--help` (reading FORMATS) does not need
    from offline.preview import PreviewResult

FORMATS = ("text", "json", "sarif", "junit", "github")


def render(result: PreviewResult, fmt: str, *, docs_base: Optional[str] = None) -> str:
    """The preview in format ``fmt`` (one of ``FORMATS``). Only the asked format's module is imported: each costs
    tens of milliseconds (sarif-om, the XML writer), a tenth of the prod stack's whole policy overhead."""
    import importlib

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "text":
        from offline.render import render_text
        return render_text(result)
    if fmt == "json":
        from offline.render import as_json
        return json.dumps(as_json(result), indent=1)
    module = importlib.import_module(f"offline.formats.{fmt}")
    return module.render(result, docs_base=docs_base) if fmt == "sarif" else module.render(result)
