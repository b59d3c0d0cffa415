"""The preview as GitHub Actions workflow commands: one annotation line per finding.

``::error`` for mandatory (and applied remediations), ``::warning`` for advisory, ``::notice`` for a suppressed
finding (shown, never failing); ``file``/``line`` where the SDK gave the registering program line (relative to
the working directory, the checkout), ``title`` the policy. The lines and their escaping (``%``, CR, LF in the
message; also ``:`` and ``,`` in properties) come from ``github-action-utils``, whose commands print to stdout:
they are captured into the returned text.
"""
from __future__ import annotations

import contextlib
import io

import github_action_utils as gha

from offline.formats.findings import Finding, split
from offline.preview import PreviewResult

_COMMANDS = {"mandatory": gha.error, "remediate": gha.error, "advisory": gha.warning}


def _annotate(f: Finding) -> None:
    src = f.source
    file, line = (src.relative(), src.line) if src is not None else (None, None)
    resource = f"{f.type} {f.name}".strip()
    if f.suppression is not None:
        s = f.suppression
        gha.notice(f"{resource}: suppressed until {s.expires} ({s.source}): {s.reason}\n{f.message}",
                   title=f"{f.policy} (suppressed)", file=file, line=line)
    else:
        _COMMANDS.get(f.level, gha.warning)(f"{resource}: {f.message}", title=f.policy, file=file, line=line)


def render(result: PreviewResult) -> str:
    violations, suppressed = split(result)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for f in violations + suppressed:
            _annotate(f)
    return out.getvalue().rstrip("\n")
