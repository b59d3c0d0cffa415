"""The components and the policy pack for another program: ``from xray_tracing import TracedLambda``.

A facade over ``components/`` (one import path that stays put while the modules behind it move), plus where
the installed copy keeps what a program hands to the components and the runner:

- ``COMMON_DIR``: the Lambdas' shared ``common`` package (one Powertools tracer, the JSON logger, the D5
  silent-failure recorder, the D10 document bounds), to pass as ``TracedLambdaArgs(common_dir=COMMON_DIR)``
  so the zip carries ``common`` and ``contract`` beside the function's ``app.py`` (``components/packaging.py``);
- ``PACK_DIR``: the ``xray-exclusive-tracing`` CrossGuard pack, for ``pulumi preview --policy-pack`` and the
  ``xray-tracing preview`` console script (its default).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ loads them on first use
    from contract.distribution import VERSION as __version__  # noqa: F401 - offered by __getattr__
    from xray_tracing.api import *  # noqa: F403

_HERE = Path(__file__).resolve().parent
#: ``handlers/common`` in a checkout (``xray_tracing/common`` links to it), a copy of it once installed.
COMMON_DIR = _HERE / "common"
#: The pack directory: ``policies/`` beside this package, in a checkout as in site-packages (where
#: ``python -m offline preview`` looks for it by default too).
PACK_DIR = _HERE.parent / "policies"


def __getattr__(name: str) -> Any:
    # Nothing but pathlib at import: the console script imports this package before the program it previews,
    # and a program with its own ``components`` or ``contract`` package must get that one.
    if name == "__version__":
        from contract.distribution import VERSION

        return VERSION
    # import_module, not `from xray_tracing import api`: that form asks this very function for "api" first.
    api = importlib.import_module("xray_tracing.api")
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'xray_tracing' has no attribute {name!r}")
