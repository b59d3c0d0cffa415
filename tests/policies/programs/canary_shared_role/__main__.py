"""canary-role-isolated: the canary runs with the application's role."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
shared = kit.role("app")
kit.buffered("ingestion", role=shared)
kit.buffered("canary", role=shared)
kit.finish()
