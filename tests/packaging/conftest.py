"""The distribution built and installed as another team would get it: a wheel from a copy of this
repository, installed with no dependencies into a fresh virtualenv outside it.

No internet here, so the wheel is built without build isolation (the shared venv's setuptools and ``wheel``)
and the new virtualenv reaches its dependencies through a ``.pth`` line naming the shared venv's
site-packages: that adds the third-party packages only (the shared venv holds none of this repository's), and
lands after the new environment's own site-packages, so every package of this distribution is the installed
copy (``test_install`` checks where each one is imported from).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract.distribution import CONSOLE_SCRIPT

REPO = Path(__file__).resolve().parents[2]
#: Not part of a source checkout (and the wheel build must not see a stale one).
_NOT_SOURCE = shutil.ignore_patterns("venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
                                     ".pytest_cache", "node_modules", "results")
BUILD_TIMEOUT_S = 240  # pip's start and a setuptools build take ~20 s on a loaded 2-core machine


@dataclass(frozen=True)
class Installed:
    env: Path          # the new virtualenv
    python: Path
    script: Path       # the console script, as pip put it in the env's bin/
    wheel: Path
    site_packages: Path

    def environ(self) -> dict[str, str]:
        """A user's environment with the new virtualenv first on PATH and nothing pointing into this repository."""
        import os

        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = f"{self.env / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.env)
        return env


def _run(cmd: list[str], **kw) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, **kw)
    assert done.returncode == 0, f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("installed")
    src = root / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_NOT_SOURCE)  # links kept: the build must resolve them
    dist = root / "dist"
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
          "--disable-pip-version-check", "-q", "-w", str(dist)])
    (wheel,) = dist.glob("*.whl")
    env = root / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    python = env / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "-q", str(wheel)])
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "shared-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.rmtree(src)  # nothing may be found in the build copy afterwards
    yield Installed(env, python, env / "bin" / CONSOLE_SCRIPT, wheel, site)
