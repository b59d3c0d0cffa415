"""The ``xray-tracing`` console script: ``python -m offline``, run on the program in the current directory.

``python -m offline preview`` defaults to this repository's program; an installed copy has no program of its
own, so the script previews the one where it is run, as ``pulumi preview`` does (an explicit ``--program``
still wins: argparse keeps the last value given). The pack defaults to the installed one. ``e2e`` runs this
repository's own system (its handlers, web client and docs, which a wheel does not carry): refused here.
"""
from __future__ import annotations

import os
import runpy
import sys


def main() -> None:
    if sys.argv[1:2] == ["e2e"]:
        print("error: e2e runs this repository's own system from a checkout of it: run `python -m offline e2e` "
              "there", file=sys.stderr)
        sys.exit(2)
    if sys.argv[1:2] == ["preview"]:
        sys.argv[2:2] = ["--program", os.getcwd()]
    # Run the package as `python -m offline` does, so its exit path (closing the loops a program left open,
    # sys.exit with the preview's status) is the one that runs.
    runpy.run_module("offline", run_name="__main__", alter_sys=True)
