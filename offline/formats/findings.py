"""The preview's findings as every output format reads them: violations and suppressed findings apart.

A suppressed finding arrives as an advisory diagnostic carrying ``contract.suppression``'s marker (the pack
decides what is suppressed; ``policies/xray_rules/suppressions``): here it leaves the violations, keeps the
level its policy is configured at (what it would be without the suppression) and its suppression's details.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from contract.suppression import Marker, parse
from offline.mocks import ResourceRecord
from offline.policy_driver import Diagnostic
from offline.preview import PreviewResult

#: Findings in this order in every format: by level as the CLI lists them, then policy, then resource.
LEVEL_ORDER = ("mandatory", "remediate", "advisory")


@dataclass(frozen=True)
class Source:
    """Where the program registered a resource (the SDK's sourcePosition)."""

    path: Path
    line: int

    def relative(self, base: Path | None = None) -> str:
        """The path relative to ``base`` (an absolute path; default: the working directory, as CI checks it out)
        when under it; compared as written, as the SDK writes absolute paths."""
        try:
            return self.path.relative_to(base or Path.cwd()).as_posix()
        except ValueError:
            return self.path.as_posix()


@dataclass(frozen=True)
class Finding:
    policy: str
    level: str                      # mandatory | remediate | advisory; a suppressed one: its policy's configured level
    urn: str
    message: str                    # the pack's message, without the suppression marker
    diagnostic: Diagnostic                     # as the pack sent it
    suppression: Marker | None = None
    resource: ResourceRecord | None = None

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1] if self.urn else "(stack)"

    @property
    def type(self) -> str:
        if self.resource is not None:
            return self.resource.type
        return self.urn.split("::")[2].rsplit("$", 1)[-1] if self.urn.count("::") >= 3 else ""

    @property
    def source(self) -> Source | None:
        return source_of(self.resource) if self.resource is not None else None


def source_of(record: ResourceRecord) -> Source | None:
    if not record.source_uri or record.source_line <= 0:
        return None
    url = urlparse(record.source_uri)
    if url.scheme != "file":
        return None
    return Source(Path(unquote(url.path)), record.source_line)


def _key(f: Finding) -> tuple[int, str, str]:
    return (LEVEL_ORDER.index(f.level) if f.level in LEVEL_ORDER else len(LEVEL_ORDER), f.policy, f.urn)


def split(result: PreviewResult) -> tuple[list[Finding], list[Finding]]:
    """(violations, suppressed), each sorted."""
    records = {r.urn: r for r in result.run.records}
    violations: list[Finding] = []
    suppressed: list[Finding] = []
    for d in result.diagnostics:
        marker, message = parse(d.message)
        if marker is not None and d.level == "advisory":
            level = result.config.get(d.policy, ("advisory", {}))[0]
            level = "mandatory" if level == "remediate" else level  # what is left after a remediation is mandatory
            suppressed.append(Finding(d.policy, level, d.urn, message, d, marker, records.get(d.urn)))
        else:
            violations.append(Finding(d.policy, d.level, d.urn, d.message, d, None, records.get(d.urn)))
    return sorted(violations, key=_key), sorted(suppressed, key=_key)


def count(findings: list[Finding], level: str) -> int:
    return sum(1 for f in findings if f.level == level)


def docs_uri(policy: str, base: str | None) -> str:
    """The policy's page, ``docs/policies/<policy>.md``, under ``base`` (a repository URL, e.g. a blob URL of
    the docs folder) or, by default, as a ``file:`` URI of this checkout's page."""
    if base:
        return f"{base.rstrip('/')}/{policy}.md"
    return (Path(__file__).resolve().parents[2] / "docs" / "policies" / f"{policy}.md").as_uri()


__all__ = ["Finding", "Source", "LEVEL_ORDER", "split", "count", "docs_uri", "source_of"]
