"""The installable distribution: its name, version and console script, read by ``pyproject.toml`` (the version),
``--version`` of ``python -m offline`` and ``python -m standins``, and the packaging tests."""
from __future__ import annotations

#: The distribution ``pip install .`` installs (``[project] name`` in pyproject.toml, checked by tests/packaging).
NAME = "xray-tracing"
#: The one version: pyproject.toml reads it (``[tool.setuptools.dynamic]``), so the metadata and --version agree.
VERSION = "0.1.0"
#: The console script, named in the README, action.yml and .pre-commit-hooks.yaml: ``python -m offline`` installed.
CONSOLE_SCRIPT = "xray-tracing"
#: The facade package other programs import the components from: ``from xray_tracing import TracedLambda``.
IMPORT_PACKAGE = "xray_tracing"
