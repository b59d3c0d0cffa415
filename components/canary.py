"""``Canary``: the one non-X-Ray mechanism, watching X-Ray and CloudWatch themselves (US6, US9, US11).

Every run submits a batch of synthetic traces and reads them back (completeness, FR-019/036), puts a
test metric and reads the previous run's back (FR-049, state in SSM, never DynamoDB), and publishes
failures straight to the out-of-band topic in the second region (FR-050). Its role is its own (FR-051):
``TracedLambda`` builds one role per function, and the canary's grants exist only there.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.alarms import canary_specs
from components.iam import Statement
from components.monitoring import Monitoring
from components.traced_lambda import AlarmOptions, TracedLambda, TracedLambdaArgs
from contract import env as env_names
from contract.metrics import CANARY_NAMESPACE as NAMESPACE
from contract.metrics import ENVIRONMENT_DIMENSION

TYPE = "sentiment:observability:Canary"


@dataclass
class CanaryArgs:
    environment: str
    code_dir: Path
    common_dir: Optional[Path]
    powertools_layer_arn: str
    out_of_band_topic_arn: pulumi.Input[str]
    health_url: pulumi.Input[str]
    batch_size: int = 5
    interval_minutes: int = 5
    tags: Mapping[str, str] = field(default_factory=dict)
    alarm_topic_arn: Optional[pulumi.Input[str]] = None
    monitoring: Optional[Monitoring] = None   # its stack-wide latency fraction applies to the canary too

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 50:
            raise ValueError(f"canary batch_size must be 1..50 (it batches into one PutTraceSegments call), "
                             f"got {self.batch_size}")
        if not 1 <= self.interval_minutes <= 60:
            raise ValueError(f"canary interval_minutes must be 1..60, got {self.interval_minutes}")


class Canary(pulumi.ComponentResource):
    def __init__(self, name: str, args: CanaryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.state = aws.ssm.Parameter(f"{name}-state", name=f"/{args.environment}/sentiment/canary/state",
                                       type="String", value="{}", tags=dict(args.tags),
                                       opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"]))
        statements = [
            Statement(["xray:BatchGetTraces", "xray:GetTraceSummaries"], ["*"]),
            Statement(["cloudwatch:PutMetricData"], ["*"],
                      condition={"StringEquals": {"cloudwatch:namespace": NAMESPACE}}),
            Statement(["cloudwatch:GetMetricStatistics"], ["*"]),
            Statement(["ssm:GetParameter", "ssm:PutParameter"], [self.state.arn]),
            Statement(["sns:Publish"], [args.out_of_band_topic_arn]),
        ]
        interval = args.interval_minutes * 60
        dims = {ENVIRONMENT_DIMENSION: args.environment}
        self.traced = TracedLambda(name, TracedLambdaArgs(
            environment=args.environment, function="canary", code_dir=args.code_dir, common_dir=args.common_dir,
            alarm_topic_arn=args.alarm_topic_arn, monitoring=args.monitoring,
            powertools_layer_arn=args.powertools_layer_arn,
            memory_mb=256, timeout_seconds=60, statements=statements,
            schedule_expression=(f"rate({args.interval_minutes} minutes)" if args.interval_minutes > 1
                                 else "rate(1 minute)"),  # EventBridge wants the singular for 1
            env_vars={env_names.CANARY_NAMESPACE: NAMESPACE, env_names.CANARY_STATE_PARAMETER: self.state.name,
                      env_names.OUT_OF_BAND_TOPIC_ARN: args.out_of_band_topic_arn,
                      env_names.CANARY_BATCH_SIZE: str(args.batch_size), env_names.CANARY_HEALTH_URL: args.health_url},
            alarms=AlarmOptions(extra=canary_specs(NAMESPACE, dims, interval)),
            tags={**args.tags, "role": "canary"}), opts=child)
        self.function = self.traced.function
        self.role = self.traced.role
        self.register_outputs({"functionName": self.function.name, "roleArn": self.role.arn})
