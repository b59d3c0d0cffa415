"""Issue 11: the pack directory (``policies/``) stands on its own for ``pulumi policy publish``.

The CLI archives the directory following links (``sdk/go/common/util/archive/archive.go`` in pulumi/pulumi:
"Resolve symlinks" before adding each entry), so what Pulumi Cloud receives is the directory as ``cp -rL``
copies it: the ``contract`` link becomes the package's files. That copy, outside the repository, must import,
build every policy and judge a program through the offline runner; its virtualenv and its requirements are
its own.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from policies.xray_rules import PACK_NAME, build_policies

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies"
COMPLIANT = REPO / "tests" / "policies" / "programs" / "compliant"


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """The pack as the CLI archives it: links followed (``cp -rL``), caches left out."""
    copy = tmp_path / "xray-pack"
    shutil.copytree(PACK, copy, symlinks=False, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    assert not [p for p in copy.rglob("*") if p.is_symlink()]
    return copy


def test_issue11_copied_pack_imports_nothing_from_the_repository(published: Path) -> None:
    # -I: no PYTHONPATH, no current directory on sys.path: only the copy and the virtualenv's packages.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import contract, xray_rules; "
            "print(contract.__file__); print(xray_rules.__file__); print(len(xray_rules.build_policies()))")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(published)], cwd=published, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    contract_file, rules_file, count = done.stdout.split()
    assert Path(contract_file).is_relative_to(published) and Path(rules_file).is_relative_to(published)
    assert int(count) == len(build_policies())


def test_issue11_copied_pack_runs_under_the_offline_runner(published: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "offline", "preview", "--program", str(COMPLIANT), "--stack", "test",
                           "--policy-pack", str(published), "--json"], cwd=REPO, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["pack"]["name"] == PACK_NAME
    assert sorted(result["pack"]["levels"]) == sorted(p.name for p in build_policies())
    assert result["summary"]["mandatory"] == 0, result["policies"]


def test_issue11_pack_virtualenv_is_inside_the_pack() -> None:
    """A published pack cannot reach ``../venv``; the CLI makes the pack's own from its requirements.txt."""
    runtime = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())["runtime"]
    assert runtime["name"] == "python"
    venv = (runtime.get("options") or {}).get("virtualenv")
    if venv is not None:
        assert (PACK / venv).resolve().is_relative_to(PACK.resolve()), f"virtualenv {venv!r} is outside the pack"


def _third_party_imports(root: Path, local: set[str]) -> set[str]:
    found: set[str] = set()
    for path in root.rglob("*.py"):  # rglob does not follow the contract link: it is stdlib-only anyway
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in local}


def _pins(requirements: Path) -> dict[str, str]:
    return {_canonical(line.split("==")[0]): line.strip() for line in requirements.read_text().splitlines()
            if "==" in line and not line.lstrip().startswith("#")}


def _canonical(distribution: str) -> str:  # PEP 503: pulumi_policy and pulumi-policy are one distribution
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_issue11_pack_requirements_cover_its_imports_pinned_as_the_project() -> None:
    listed = _pins(PACK / "requirements.txt")
    providers = importlib.metadata.packages_distributions()
    imports = _third_party_imports(PACK, local={"contract", "xray_rules", "policies"})
    assert imports, "the pack imports no third-party package? (pulumi_policy at least)"
    missing = {m for m in imports if not {_canonical(d) for d in providers.get(m, [])} & set(listed)}
    assert not missing, f"policies/requirements.txt lacks the distribution of {sorted(missing)}"
    project = _pins(REPO / "requirements.txt")
    assert {name: project.get(name) for name in listed} == listed, "pin the pack as requirements.txt pins the project"
