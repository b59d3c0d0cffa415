"""Robustness: a program that creates and installs its own event loop at import, as some
public examples do (or a library they import does), then builds resources and exports an output.
Otherwise compliant: the runner must not trip over the foreign loop."""
import asyncio
import sys
from pathlib import Path

import pulumi

asyncio.set_event_loop(asyncio.new_event_loop())

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
fn = kit.buffered("api")
kit.finish()
pulumi.export("function_name", fn.name)
