"""xray-write-permissions: an inline policy with PutTraceSegments only (no GetSampling*)."""
import json
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
role = aws.iam.Role("api-role", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []}),
                    inline_policies=[{"name": "xray", "policy": json.dumps({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                         "Resource": "*"}]})}])
kit.buffered("api", role=role)
kit.finish()
