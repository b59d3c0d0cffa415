"""streaming-no-exec-wrapper: the wrapper on a RESPONSE_STREAM function (the URL carries the mode,
the function the env var)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import OTEL_ENV, Kit  # noqa: E402

kit = Kit()
kit.streaming("sse", env={**OTEL_ENV, "AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-handler"})
kit.buffered("worker", env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"})  # buffered: allowed
kit.finish()
