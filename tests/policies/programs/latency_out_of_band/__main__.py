"""lambda-latency-alarm: p95 Duration alarm at 50% of the timeout (outside 80-90%)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
fn = kit.function("api", timeout=60)
kit.error_alarm("api", fn.name)
kit.duration_alarm("api", fn.name, 60, fraction=0.5)
kit.finish()
