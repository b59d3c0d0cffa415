"""A stand-in for the SSE image build, without Docker: its context and the tree its COPYs make, as BuildKit would.

``handlers/sse/Dockerfile`` is built with the repository root as context, filtered by
``handlers/sse/Dockerfile.dockerignore``. The ignore file is read with BuildKit's rules: patterns are
matched against slash-separated paths relative to the context (``*`` and ``?`` stay within one path
segment, ``**`` spans any number), a pattern that matches a directory matches everything below it, a
leading ``!`` lets a path back in, and the last pattern that matches decides.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DOCKERFILE = REPO / "handlers/sse/Dockerfile"
IGNORE_FILE = REPO / "handlers/sse/Dockerfile.dockerignore"


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out)


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    include: bool


def ignore_rules(path: Path = IGNORE_FILE) -> list[Rule]:
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if include else line).lstrip("/")
        rules.append(Rule(_regex(pattern), include))
    return rules


def in_context(relative: str, rules: list[Rule]) -> bool:
    """Whether BuildKit sends ``relative`` (a file path below the context root) to the build."""
    parts = relative.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    included = True
    for rule in rules:
        if any(rule.regex.fullmatch(c) for c in candidates):
            included = rule.include
    return included


def context_files(root: Path = REPO) -> list[str]:
    """Every file of the repository that BuildKit would send (symbolic links are not followed)."""
    rules = ignore_rules()
    out = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            relative = (Path(directory) / name).relative_to(root).as_posix()
            if in_context(relative, rules):
                out.append(relative)
    return sorted(out)


@dataclass(frozen=True)
class Copy:
    """One ``COPY <source> <destination>`` from the build context."""

    source: str
    destination: str

    def matches(self, relative: str) -> bool:
        """Whether the file ``relative`` is one this COPY takes (a directory source takes all below it)."""
        if self.source.endswith("/"):
            return relative.startswith(self.source)
        return bool(_regex(self.source).fullmatch(relative))

    def target(self, relative: str) -> str:
        """Where the file lands in the image."""
        if self.source.endswith("/"):
            return self.destination.rstrip("/") + "/" + relative[len(self.source):]
        if self.destination.endswith("/"):
            return self.destination + relative.rsplit("/", 1)[-1]
        return self.destination


def copies(dockerfile: Path = DOCKERFILE) -> list[Copy]:
    """The COPY instructions that read the build context (``COPY --from=`` reads another image)."""
    out = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from=") for w in words):
            *sources, destination = [w for w in words[1:] if not w.startswith("--")]
            out += [Copy(source, destination) for source in sources]
    return out


def assemble(under: Path, prefix: str = "/var/task/") -> Path:
    """Lay out below ``under`` the part of the image under ``prefix`` that the COPYs make from the context;
    returns the directory that stands for ``prefix``."""
    root = under / prefix.strip("/")
    for relative in context_files():
        for copy in copies():
            if copy.matches(relative) and copy.target(relative).startswith(prefix):
                target = root / copy.target(relative)[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / relative, target)
    return root
