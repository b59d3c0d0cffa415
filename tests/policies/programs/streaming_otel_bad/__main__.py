"""streaming-otel-config: sampler always_on and a service name that differs from Powertools'."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import OTEL_ENV, Kit  # noqa: E402

kit = Kit()
kit.streaming("sse", env={**OTEL_ENV, "OTEL_TRACES_SAMPLER": "always_on", "OTEL_SERVICE_NAME": "sse-otel"})
kit.finish()
