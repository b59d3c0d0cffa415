"""lambda-tracing-active: a function with PassThrough tracing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
kit.buffered("api", tracing="PassThrough")
kit.finish()
