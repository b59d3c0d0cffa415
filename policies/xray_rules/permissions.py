"""What a role's grants allow: IAM policy documents and managed policies, read the way IAM reads them.

An explicit Deny wins over any Allow; ``Action``/``NotAction`` and their wildcards match case-
insensitively; only statements whose resources can cover X-Ray (``*`` or an X-Ray ARN) count. A grant
whose document or ARN is unknown at preview is reported as such, so the policy can say what it could
not read.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from .stack_index import Grant
from .values import UNKNOWN, as_list


def statements(doc: Any) -> list[dict]:
    statements = as_list(doc.get("Statement")) if isinstance(doc, dict) else []
    return [] if statements is UNKNOWN else [s for s in statements if isinstance(s, dict)]


def action_matches(patterns: Any, action: str) -> Any:
    patterns = as_list(patterns)
    if patterns is UNKNOWN:
        return UNKNOWN
    return any(isinstance(p, str) and fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _covers_any_resource(resources: Any) -> bool:
    resources = as_list(resources)
    return resources is UNKNOWN or any(r == "*" or (isinstance(r, str) and ":xray:" in r) for r in resources)


def missing_actions(grants: Iterable[Grant], *, actions: list[str],
                    managed: Mapping[str, list[str]]) -> tuple[set[str], list[str]]:
    """(the ``actions`` the grants do not allow, origins of the grants that were unknown).

    ``managed`` maps a managed policy's name (the ARN's last path segment) to the actions it grants."""
    allowed: set[str] = set()
    denied: set[str] = set()
    unknown: list[str] = []
    for grant in grants:
        if grant.managed_arn is not None or grant.document is None:
            arn = grant.managed_arn
            if arn is UNKNOWN:
                unknown.append(grant.origin)
            elif isinstance(arn, str):
                granted = managed.get(arn.rsplit("/", 1)[-1], [])
                allowed |= {a for a in actions if action_matches(granted, a) is True}
            continue
        if grant.document is UNKNOWN:
            unknown.append(grant.origin)
            continue
        for st in statements(grant.document):
            if not _covers_any_resource(st.get("Resource", "*" if "NotResource" in st else None)):
                continue
            for action in actions:
                if "Action" in st:
                    hit = action_matches(st["Action"], action)
                elif "NotAction" in st:
                    hit = action_matches(st["NotAction"], action)
                    hit = UNKNOWN if hit is UNKNOWN else not hit
                else:
                    continue
                if hit is UNKNOWN:
                    unknown.append(grant.origin)
                elif hit:
                    (denied if st.get("Effect") == "Deny" else allowed).add(action)
    return set(actions) - (allowed - denied), unknown


def granting_all(managed: Mapping[str, list[str]], actions: list[str]) -> str | None:
    """The managed policy to suggest for ``actions``: one that grants them all, preferring one that grants
    exactly them (least privilege), then by name (config maps arrive in no particular order)."""
    fits = [name for name, granted in managed.items() if all(action_matches(granted, a) is True for a in actions)]
    return min(fits, key=lambda name: (set(managed[name]) != set(actions), name), default=None)
