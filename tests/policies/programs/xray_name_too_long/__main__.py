"""xray-name-limits: an X-Ray group name longer than 32 characters."""
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
kit.buffered("api")
aws.xray.Group("sse-reconnections", group_name="sentiment-analyzer-prod-sse-reconnections",
               filter_expression='annotation.previous_trace_id BEGINSWITH "1-"')
kit.finish()
