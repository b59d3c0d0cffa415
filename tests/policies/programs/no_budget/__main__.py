"""tracing-cost-budget: no budget at all."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
kit.buffered("api")
kit.finish(budget=False)
