"""tracing-cost-budget: no budget at all."""
import json, sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import OTEL_ENV, Kit  # noqa: E402

kit = Kit()
kit.buffered("api")
kit.finish(budget=False)
