"""Zip packaging of a buffered Lambda: its handler directory, ``common`` and ``contract`` beside it, vendored deps.

Inside the Lambda, ``app.py`` sits at the archive root, ``handlers/common`` becomes the package ``common``
next to it and the repository's ``contract`` package is copied as ``contract`` (the rules the program and
the handlers share). Third-party dependencies that the Powertools layer does not provide are listed in
``handlers/<name>/requirements.txt`` and vendored by ``scripts/build-lambdas`` into
``build/<name>/``; the archive includes that directory when it exists.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import pulumi

import contract

CONTRACT_DIR = Path(contract.__file__).parent
_SKIP_DIRS = {"__pycache__", ".pytest_cache", "tests"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def _files(root: Path) -> dict[str, pulumi.Asset]:
    out: dict[str, pulumi.Asset] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (path.is_dir() or any(part in _SKIP_DIRS for part in rel.parts) or path.suffix in _SKIP_SUFFIXES
                or path.name == REQUIREMENTS_STAMP):
            continue
        out[rel.as_posix()] = pulumi.FileAsset(str(path))
    return out


def lambda_archive(code_dir: Path, common_dir: Optional[Path] = None,
                   vendored_dir: Optional[Path] = None) -> pulumi.AssetArchive:
    """The deployment archive for one function (deterministic: sorted, no caches)."""
    if not (code_dir / "app.py").is_file():
        raise ValueError(f"{code_dir} has no app.py: a buffered Lambda's entry point is app.handler")
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}  # the type AssetArchive takes (a dict, checked at runtime)
    if vendored_dir is not None and vendored_dir.is_dir():
        assets.update(_files(vendored_dir))
    if common_dir is not None:
        if not (common_dir / "__init__.py").is_file():
            raise ValueError(f"{common_dir} is not a Python package (no __init__.py)")
        assets.update({f"common/{k}": v for k, v in _files(common_dir).items()})
        assets.update({f"contract/{k}": v for k, v in _files(CONTRACT_DIR).items()})
    assets.update(_files(code_dir))
    return pulumi.AssetArchive(assets)


#: Written by ``scripts/build-lambdas`` beside the vendored packages: the sha256 of the requirements they were
#: built from, so a changed ``requirements.txt`` is not deployed with yesterday's packages.
REQUIREMENTS_STAMP = ".requirements.sha256"


def _requirements(code_dir: Path) -> Optional[Path]:
    req = code_dir / "requirements.txt"
    if not req.is_file():
        return None
    listed = [line for line in req.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return req if listed else None


def vendoring_problem(code_dir: Path, vendored_dir: Optional[Path]) -> Optional[str]:
    """Why this function's archive would lack its third-party packages, or None when it would not."""
    req = _requirements(code_dir)
    if req is None:
        return None
    if vendored_dir is None or not vendored_dir.is_dir():
        return f"{req} lists packages that are not vendored: run scripts/build-lambdas"
    stamp = vendored_dir / REQUIREMENTS_STAMP
    wanted = hashlib.sha256(req.read_bytes()).hexdigest()
    if not stamp.is_file() or stamp.read_text().strip() != wanted:
        return f"{vendored_dir} was not built from the current {req}: run scripts/build-lambdas again"
    return None
