"""stepfunctions-tracing-enabled: a state machine without tracing_configuration."""
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
role = kit.role("flow")
aws.sfn.StateMachine("flow", role_arn=role.arn,
                     definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}')
kit.finish()
