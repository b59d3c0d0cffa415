"""Suppressing one finding of one policy on one resource, with a reason and an expiry (issue 11): all of it.

A finding is suppressed by either

- a tag on the resource, ``policy-suppress:<policy>`` = ``<reason>; expires=YYYY-MM-DD`` (SARIF kind ``inSource``:
  it is written next to the resource); AWS tag values allow no ``;``, so ``<reason> expires=YYYY-MM-DD`` is read
  the same way (docs/aws-facts.md);
- an entry of the policy's config, ``"suppressions": [{"resource": "<glob>", "reason": "...", "expires": "..."}]``
  (kind ``external``), the glob matched against the logical or the physical name, as ``exemptNames`` is.

Never silently: a suppression in force turns the finding into an advisory diagnostic of the same policy whose
message carries ``contract.suppression``'s marker line, so ``pulumi preview`` still shows it (and does not fail
on it) and the offline runner lists it under "suppressed". One without a reason, without an expiry, with a date
that is not one, or expired, suppresses nothing: the finding stays a violation at its level and says why.

The SDK binds a policy's ``report_violation`` to the policy's level; the protocol carries a level per diagnostic
(``AnalyzeDiagnostic.enforcementLevel``, which the engine honours per diagnostic), so ``install()`` gives every
reporter the servicer builds an ``advisory`` twin (private ``_create_report_violation``, pulumi-policy pinned, as
``call_scope`` wraps ``AnalyzeStack``). A host without that twin (a policy's ``validate`` called directly) gets
the finding at its own level, marker included: a suppression can then fail a run, never hide a finding.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation

from contract.suppression import EXPIRES_KEY, KIND_EXTERNAL, KIND_IN_SOURCE, TAG_PREFIX, Marker, marker_line

from .values import matches_any

SUPPRESSIONS_KEY = "suppressions"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
#: The config schema every policy accepts (``config.schema``); a date of the wrong shape fails at Configure.
SUPPRESSIONS: dict[str, Any] = {
    "type": "array", "default": [],
    "description": "Findings of this policy to suppress: a glob (fnmatch) on the logical or physical name, why, and "
                   "until when (YYYY-MM-DD; expired or reason-less entries suppress nothing and are reported).",
    "items": {
        "type": "object", "required": ["resource"], "additionalProperties": False,
        "properties": {
            "resource": {"type": "string", "minLength": 1},
            "reason": {"type": "string"},
            "expires": {"type": "string", "pattern": _DATE,
                        "description": "the last day the suppression holds, as YYYY-MM-DD (e.g. 2027-03-31)"},
        },
    },
}
_EXPIRES = re.compile(rf"(?:^|[;\s]){EXPIRES_KEY}=(\S*)")


@dataclass(frozen=True)
class Suppression:
    policy: str
    kind: str        # contract.suppression.KIND_IN_SOURCE (tag) or KIND_EXTERNAL (config)
    source: str      # where it is written, as the marker and the messages name it
    reason: str
    expires: str     # as written, "" when missing

    def problem(self, today: datetime.date) -> str | None:
        """Why this suppression does not hold, or None when it does."""
        if not self.reason.strip():
            return "has no reason; write why the finding is acceptable"
        if not self.expires:
            return f"has no expiry; add {EXPIRES_KEY}=YYYY-MM-DD"
        try:
            last_day = datetime.date.fromisoformat(self.expires) if re.match(_DATE, self.expires) else None
        except ValueError:
            last_day = None
        if last_day is None:
            return f"has {EXPIRES_KEY}={self.expires!r}, not a date; write YYYY-MM-DD, e.g. 2027-03-31"
        if last_day < today:
            return f"expired on {self.expires}; renew it with a new date or fix the finding"
        return None

    def marker(self) -> str:
        return marker_line(Marker(kind=self.kind, source=self.source, expires=self.expires, reason=self.reason.strip()))


def _from_tag(policy: str, value: Any) -> Suppression:
    text = value if isinstance(value, str) else ""
    m = _EXPIRES.search(text)
    expires = m[1] if m else ""
    reason = (text[:m.start()] + text[m.end():]) if m else text
    return Suppression(policy, KIND_IN_SOURCE, f"tag {TAG_PREFIX}{policy}", reason.strip(" ;\t"), expires)


def _tag(props: dict, key: str) -> Any:
    for field in ("tags", "tagsAll"):  # tagsAll: provider default tags, in outputs
        tags = props.get(field)
        if isinstance(tags, dict) and key in tags:
            return tags[key]
    return None


def find(policy: str, cfg: Mapping[str, Any], props: dict, *names: Any) -> Suppression | None:
    """The suppression of ``policy``'s findings on the resource with these props and names (logical, physical)."""
    value = _tag(props, TAG_PREFIX + policy)
    if value is not None:
        return _from_tag(policy, value)
    for i, entry in enumerate(cfg.get(SUPPRESSIONS_KEY) or []):
        if isinstance(entry, dict) and matches_any([str(entry.get("resource") or "")], *names):
            return Suppression(policy, KIND_EXTERNAL, f"config {SUPPRESSIONS_KEY}[{i}]",
                               str(entry.get("reason") or ""), str(entry.get("expires") or ""))
    return None


def today() -> datetime.date:
    """The day expiries are judged against (UTC, as CI runners keep it)."""
    return datetime.datetime.now(datetime.UTC).date()


#: ``(urn) -> (props, names)`` of the resource a finding is on (``urn`` None: the resource being judged).
Lookup = Callable[[str | None], tuple[dict, tuple[Any, ...]] | None]


def guarded(report: ReportViolation, policy: str, cfg: Mapping[str, Any], lookup: Lookup) -> ReportViolation:
    """``report`` with suppressions applied to each finding (see the module docstring)."""
    def report_violation(message: str, urn: str | None = None) -> None:
        found = lookup(urn)
        suppression = find(policy, cfg, found[0], *found[1]) if found is not None else None
        if suppression is None:
            report(message, urn)
            return
        problem = suppression.problem(today())
        if problem is not None:
            report(f"{message}\nnot suppressed: the suppression ({suppression.source}) {problem}", urn)
            return
        advisory: ReportViolation = getattr(report, "advisory", report)
        advisory(f"{suppression.marker()}\n{message}", urn)

    return report_violation


class _Reporter:
    """A servicer's reporter at the policy's level, with its ``advisory`` twin for suppressed findings."""

    def __init__(self, report: ReportViolation, advisory: ReportViolation):
        self._report, self.advisory = report, advisory

    def __call__(self, message: str, urn: str | None = None) -> None:
        self._report(message, urn)


_MARK = "_xray_rules_suppressions"


def install() -> None:
    """Give every reporter the SDK servicer creates an ``advisory`` twin (once; any time before a call)."""
    from pulumi_policy.policy import _PolicyAnalyzerServicer  # private: the only place a reporter's level is set

    create = _PolicyAnalyzerServicer._create_report_violation
    if getattr(create, _MARK, False):
        return

    def create_report_violation(self: Any, response: Any, policy_name: str, policy_description: str,
                                enforcement_level: EnforcementLevel, severity: Any = None) -> ReportViolation:
        return _Reporter(create(self, response, policy_name, policy_description, enforcement_level, severity),
                         create(self, response, policy_name, policy_description, EnforcementLevel.ADVISORY, severity))

    setattr(create_report_violation, _MARK, True)
    _PolicyAnalyzerServicer._create_report_violation = create_report_violation  # type: ignore[method-assign]
