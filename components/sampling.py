"""``XRaySampling``: centralized sampling rules and X-Ray groups per environment (D9, FR-034).

Rules steer only the hosts that consult X-Ray's centralized rules: API Gateway stages (the dashboard inherits
their decision) and SDK-instrumented code. Lambda-rooted traces (schedules, SNS, the Function URL) are sampled by
Lambda at a fixed 1 request/s + 5 % that no rule changes (docs/aws-facts.md SMP-4, SMP-5), so there is no rule for
them: a rule with ``AWS::Lambda::Function`` would promise a rate nobody applies. Groups
with insights turn filter expressions into CloudWatch metrics (SC-013) that the alarms watch.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from contract import streaming
from contract.naming import resource_name
from contract.xray import MAX_NAME_LENGTH as MAX_NAME
from contract.xray import MAX_PER_REGION

TYPE = "sentiment:observability:XRaySampling"


@dataclass(frozen=True)
class SamplingRule:
    name: str
    priority: int
    reservoir_size: int
    fixed_rate: float
    service_type: str = "*"
    service_name: str = "*"
    url_path: str = "*"


@dataclass(frozen=True)
class TraceGroup:
    name: str
    filter_expression: str


def sampling_rules(environment: str, mode: str) -> list[SamplingRule]:
    """D9: ``full`` samples everything (dev/preprod); ``production`` uses the contract's rates."""
    if mode == "full":
        return [SamplingRule(f"{environment}-all", 100, 1, 1.0)]
    if mode == "production":
        return [SamplingRule(f"{environment}-apigw", 100, 10, 0.10, service_type="AWS::ApiGateway::Stage"),
                SamplingRule(f"{environment}-default", 9000, 5, 0.10)]
    raise ValueError(f"sampling mode {mode!r}: use 'full' (dev/preprod, 100%) or 'production' (D9 rates)")


def trace_group_names(environment: str) -> dict[str, str]:
    """The five groups' names by purpose (the alarms on group metrics look them up here)."""
    return {"errors": resource_name(environment, "errors"), "production": f"{environment}-production-traces",
            "canary": f"{environment}-canary-traces", "sse": resource_name(environment, "sse"),
            "sse-reconnections": f"{environment}-sse-reconnections"}


def trace_groups(environment: str) -> list[TraceGroup]:
    """The five groups of D9/FR-111, all with insights."""
    names = trace_group_names(environment)
    return [TraceGroup(names["errors"], "fault = true OR error = true"),
            TraceGroup(names["production"], "!annotation.synthetic"),
            TraceGroup(names["canary"], "annotation.synthetic = true"),
            TraceGroup(names["sse"], f'service("{streaming.SERVICE_NAME}")'),
            TraceGroup(names["sse-reconnections"], 'annotation.previous_trace_id BEGINSWITH "1-"')]


@dataclass(frozen=True)
class TracedTopicsGrant:
    account_id: pulumi.Input[str]
    topic_arn_pattern: pulumi.Input[str]   # e.g. arn:aws:sns:us-east-1:123456789012:prod-sentiment-*
    policy_name: str


@dataclass
class XRaySamplingArgs:
    rules: Sequence[SamplingRule]
    groups: Sequence[TraceGroup]
    tags: Mapping[str, str] = field(default_factory=dict)
    # SNS topics with Active tracing may write segments only once X-Ray's resource policy lets SNS do so (the
    # console adds it, the API does not): the account and the ARN pattern of the topics that may.
    traced_topics: Optional[TracedTopicsGrant] = None

    def __post_init__(self) -> None:
        for kind, names in (("sampling rule", [r.name for r in self.rules]), ("group", [g.name for g in self.groups])):
            long = [n for n in names if len(n) > MAX_NAME]
            if long:
                raise ValueError(f"X-Ray {kind} names longer than {MAX_NAME} characters fail the deploy: {long}")
            if len(names) > MAX_PER_REGION:
                raise ValueError(f"at most {MAX_PER_REGION} X-Ray {kind}s per region, got {len(names)}")
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate X-Ray {kind} names: {names}")
        for rule in self.rules:
            if not 0 <= rule.fixed_rate <= 1 or rule.reservoir_size < 0 or not 1 <= rule.priority <= 9999:
                raise ValueError(f"sampling rule {rule.name}: rate 0..1, reservoir >= 0, priority 1..9999")


class XRaySampling(pulumi.ComponentResource):
    def __init__(self, name: str, args: XRaySamplingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rules = {r.name: aws.xray.SamplingRule(
            f"{name}-{r.name}", rule_name=r.name, priority=r.priority, reservoir_size=r.reservoir_size,
            fixed_rate=r.fixed_rate, service_type=r.service_type, service_name=r.service_name, host="*",
            http_method="*", url_path=r.url_path, resource_arn="*", version=1, tags=dict(args.tags), opts=child)
            for r in args.rules}
        self.groups = {g.name: aws.xray.Group(
            f"{name}-{g.name}", group_name=g.name, filter_expression=g.filter_expression,
            insights_configuration={"insights_enabled": True, "notifications_enabled": False},
            tags=dict(args.tags), opts=child) for g in args.groups}
        if args.traced_topics is not None:
            grant = args.traced_topics
            self.sns_policy = aws.xray.ResourcePolicy(
                f"{name}-sns", policy_name=grant.policy_name, opts=child,
                policy_document=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [{
                    "Sid": "SnsActiveTracing", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": ["xray:PutTraceSegments", "xray:GetSamplingRules", "xray:GetSamplingTargets"],
                    "Resource": "*",
                    # confused deputy: only this account's topics of this stack
                    "Condition": {"StringEquals": {"aws:SourceAccount": grant.account_id},
                                  "ArnLike": {"aws:SourceArn": grant.topic_arn_pattern}}}]}))
        self.register_outputs({"ruleNames": list(self.rules), "groupNames": list(self.groups)})
