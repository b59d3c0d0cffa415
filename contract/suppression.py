"""How a suppressed policy finding travels from the pack to whoever reads its diagnostics (issue 11).

The pack (``policies/xray_rules/suppressions``) decides what is suppressed; it reports a suppressed finding as an
advisory diagnostic of the same policy whose message carries one ``marker`` line, so the Pulumi CLI shows it (and
does not fail on it) and the offline runner (``offline/formats``) can move it to its "suppressed" section. Both
sides need the line's shape, so it lives here, once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: Resource tag key prefix: ``policy-suppress:<policy-name>`` = ``<reason>; expires=YYYY-MM-DD``.
TAG_PREFIX = "policy-suppress:"
#: The key in a tag value that carries the expiry date.
EXPIRES_KEY = "expires"
#: SARIF 2.1.0 suppression kinds (section 3.35.2): written next to the code (a tag), or kept apart (the pack config).
KIND_IN_SOURCE = "inSource"
KIND_EXTERNAL = "external"

# "suppressed (inSource) by tag policy-suppress:x until 2027-01-01: reason" - the reason is last: it may hold anything.
_MARKER = re.compile(r"^suppressed \((inSource|external)\) by (.+?) until (\d{4}-\d{2}-\d{2}): (.*)$")


@dataclass(frozen=True)
class Marker:
    kind: str      # KIND_IN_SOURCE or KIND_EXTERNAL
    source: str    # where the suppression is written: "tag policy-suppress:<policy>" or "config suppressions[<i>]"
    expires: str   # YYYY-MM-DD
    reason: str


def marker_line(marker: Marker) -> str:
    """The one line a suppressed finding's message carries (a reason's line breaks become spaces)."""
    reason = " ".join(marker.reason.split())
    return f"suppressed ({marker.kind}) by {marker.source} until {marker.expires}: {reason}"


def parse(message: str) -> tuple[Marker | None, str]:
    """The marker in a diagnostic's message, if any, and the message without that line."""
    lines = message.splitlines()
    for i, line in enumerate(lines):
        m = _MARKER.match(line)
        if m:
            return Marker(kind=m[1], source=m[2], expires=m[3], reason=m[4]), "\n".join(lines[:i] + lines[i + 1:])
    return None, message
