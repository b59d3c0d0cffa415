"""Zip packaging of a buffered Lambda: its handler directory, ``common`` and ``contract`` beside it, vendored deps.

Inside the Lambda, ``app.py`` sits at the archive root, ``handlers/common`` becomes the package ``common``
next to it and the repository's ``contract`` package is copied as ``contract`` (the rules the program and
the handlers share). Third-party dependencies that the Powertools layer does not provide are listed in
``handlers/<name>/requirements.txt`` and vendored by ``scripts/build-lambdas`` into
``build/<name>/``; the archive includes that directory when it exists.
"""
from __future__ import annotations

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
        if path.is_dir() or any(part in _SKIP_DIRS for part in rel.parts) or path.suffix in _SKIP_SUFFIXES:
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


def needs_vendoring(code_dir: Path, vendored_dir: Optional[Path]) -> bool:
    """True when the handler lists requirements that have not been vendored yet."""
    req = code_dir / "requirements.txt"
    has_reqs = req.is_file() and any(line.strip() and not line.startswith("#") for line in req.read_text().splitlines())
    return has_reqs and not (vendored_dir is not None and vendored_dir.is_dir())
