"""lambda-tracing-active: a function with PassThrough tracing."""
import json, sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import OTEL_ENV, Kit  # noqa: E402

kit = Kit()
kit.buffered("api", tracing="PassThrough")
kit.finish()
