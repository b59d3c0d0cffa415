"""A synthetic Pulumi program of about N resources built from the project's components.

Each unit is one ``TracedLambda`` (component, log group, role, 3 role policies, function, alarm set
component and 4 alarms = 12 resources), so the program is shaped like real stacks, not like a flat list.
"""
from __future__ import annotations

from pathlib import Path

RESOURCES_PER_UNIT = 12
REPO = Path(__file__).resolve().parents[1]

PROGRAM = '''\
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from components.iam import Statement
from components.traced_lambda import TracedLambda, TracedLambdaArgs

HERE = Path(__file__).absolute().parent
LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:18"
for i in range({units}):
    TracedLambda(f"fn{{i}}", TracedLambdaArgs(
        environment="synth", function=f"fn{{i}}", code_dir=HERE / "fn", alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:a",
        powertools_layer_arn=LAYER,
        statements=[Statement(["dynamodb:GetItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/t"])]))
'''


def write_program(directory: Path, n_resources: int) -> int:
    """Write the program into ``directory``; returns the number of resources it registers."""
    units = max(1, round(n_resources / RESOURCES_PER_UNIT))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fn").mkdir(exist_ok=True)
    (directory / "fn" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (directory / "Pulumi.yaml").write_text("name: synthetic\nruntime: python\n")
    (directory / "Pulumi.bench.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (directory / "__main__.py").write_text(PROGRAM.format(repo=str(REPO), units=units))
    return units * RESOURCES_PER_UNIT
