"""``TracedLambda``: a buffered (zip) Lambda that cannot be deployed untraced or unalarmed.

What every instance gets, without the caller asking: Active X-Ray tracing, its own role with the five
X-Ray actions and only the grants it is given, a log group with retention, the Powertools layer and
environment (service name, no response capture, FR-058), and an ``AlarmSet`` (errors, error rate,
throttles, p95 Duration at 85% of the timeout, one alarm per silent-failure path it owns). Async
triggers (schedule, SNS) get a DLQ so a failed event is never lost.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.alarms import (
    AlarmSet,
    AlarmSetArgs,
    AlarmSpec,
    Evaluation,
    dlq_depth_spec,
    lambda_specs,
    metric_fallback_spec,
    silent_failure_specs,
)
from components.iam import LambdaRole, Statement
from components.limits import check_function
from components.monitoring import Monitoring
from components.packaging import lambda_archive, vendoring_problem
from contract import env as env_names
from contract.alarms import DEFAULT_LATENCY_FRACTION
from contract.metrics import METRIC_FALLBACK_FILTER_PATTERN, METRIC_FALLBACK_METRIC, fallback_namespace
from contract.naming import function_name, service_name

TYPE = "sentiment:observability:TracedLambda"
#: Variables the Lambda runtime sets itself (docs/aws-facts.md); a function may not override them.
_RESERVED_ENV = re.compile(r"^(AWS_(?!LAMBDA_EXEC_WRAPPER$)|_X_AMZN|LAMBDA_|_HANDLER$|TZ$)")
_ENV_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class AlarmOptions:
    """How a function is alarmed; defaults follow D7 and FR-127."""

    latency_fraction: Optional[float] = None    # None: the registry's stack-wide value, else the default
    error_rate_percent: float = 5.0
    errors: Evaluation = Evaluation(1, 1)
    latency: Evaluation = Evaluation(3, 5)
    failure_paths: Sequence[str] = ()           # silent-failure paths this function owns (D5)
    metric_fallback_period_seconds: Optional[int] = None  # count the D5 fallback log line, alarm on it
    extra: Sequence[AlarmSpec] = ()             # custom-metric alarms owned by this function


@dataclass
class TracedLambdaArgs:
    environment: str                  # stack environment, e.g. "prod"
    function: str                     # logical name, e.g. "ingestion" -> "{env}-sentiment-ingestion"
    code_dir: Path                    # handlers/<name>/ with app.py
    powertools_layer_arn: str
    common_dir: Optional[Path] = None  # handlers/common, packaged as `common`
    vendored_dir: Optional[Path] = None
    memory_mb: int = 256
    timeout_seconds: int = 30
    runtime: str = "python3.13"
    handler: str = "app.handler"
    env_vars: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    statements: Sequence[Statement] = ()
    log_retention_days: int = 30
    schedule_expression: Optional[str] = None   # EventBridge trigger, e.g. "rate(5 minutes)"
    dead_letter_queue: bool = False             # async triggers: keep failed events
    reserved_concurrency: Optional[int] = None
    alarms: AlarmOptions = field(default_factory=AlarmOptions)
    tags: Mapping[str, str] = field(default_factory=dict)
    # Where alarms go: the stack's monitoring registry (its topic and defaults; the alarm set registers
    # there), or a topic alone for a program without one.
    alarm_topic_arn: Optional[pulumi.Input[str]] = None
    monitoring: Optional[Monitoring] = None

    def __post_init__(self) -> None:
        check_function(self.function, self.timeout_seconds, self.memory_mb)
        if self.alarm_topic_arn is None and self.monitoring is None:
            raise ValueError(f"{self.function}: give monitoring (the stack's registry) or alarm_topic_arn")
        if not self.runtime.startswith("python3."):
            raise ValueError(f"{self.function}: runtime {self.runtime!r} is not a Python runtime (D4: python3.13)")
        if not re.fullmatch(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9-_]+:\d+", self.powertools_layer_arn):
            raise ValueError(f"{self.function}: powertools_layer_arn {self.powertools_layer_arn!r} is not a "
                             "version-pinned layer ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>)")
        for key in self.env_vars:
            if not _ENV_KEY.match(key) or _RESERVED_ENV.match(key):
                raise ValueError(f"{self.function}: environment variable {key!r} is invalid or reserved by Lambda")
        if self.schedule_expression and not re.fullmatch(r"(rate|cron)\(.+\)", self.schedule_expression):
            raise ValueError(f"{self.function}: schedule {self.schedule_expression!r} must be rate(...) or cron(...)")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 0:
            raise ValueError(f"{self.function}: reserved_concurrency must be >= 0")

    @property
    def function_name(self) -> str:
        return function_name(self.environment, self.function)

    @property
    def latency_fraction(self) -> float:
        if self.alarms.latency_fraction is not None:
            return self.alarms.latency_fraction
        return self.monitoring.latency_fraction if self.monitoring is not None else DEFAULT_LATENCY_FRACTION


class TracedLambda(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    alarm_set: AlarmSet
    dead_letter_queue: Optional[aws.sqs.Queue]

    def __init__(self, name: str, args: TracedLambdaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        fn_name = args.function_name
        tags = {**args.tags, "function": args.function}
        problem = vendoring_problem(args.code_dir, args.vendored_dir)
        if problem and not pulumi.runtime.is_dry_run():
            # Deployed without its packages, every invocation would fail with an ImportError.
            raise ValueError(f"{args.function}: {problem} before `pulumi up`")
        if problem:
            pulumi.log.warn(f"{problem} before `pulumi up` (a deploy now would be refused)", resource=self)

        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", name=f"/aws/lambda/{fn_name}",
                                                 retention_in_days=args.log_retention_days, tags=tags, opts=child)
        statements = list(args.statements)
        self.dead_letter_queue = None
        if args.dead_letter_queue:
            self.dead_letter_queue = aws.sqs.Queue(f"{name}-dlq", name=f"{fn_name}-dlq",
                                                   message_retention_seconds=1209600, tags=tags, opts=child)
            statements.append(Statement(["sqs:SendMessage"], [self.dead_letter_queue.arn]))
        self._role = LambdaRole(name, self, self.log_group.arn, statements, tags)
        self.role = self._role.role

        env = {env_names.ENVIRONMENT: args.environment,
               env_names.POWERTOOLS_SERVICE_NAME: service_name(args.function),
               env_names.POWERTOOLS_TRACER_CAPTURE_RESPONSE: "false", env_names.POWERTOOLS_LOG_LEVEL: "INFO",
               **args.env_vars}
        self.function = aws.lambda_.Function(
            name, name=fn_name, role=self.role.arn, runtime=args.runtime, handler=args.handler,
            code=lambda_archive(args.code_dir, args.common_dir, args.vendored_dir),
            memory_size=args.memory_mb, timeout=args.timeout_seconds,
            layers=[args.powertools_layer_arn], tracing_config={"mode": "Active"},
            environment={"variables": env},
            dead_letter_config={"target_arn": self.dead_letter_queue.arn} if self.dead_letter_queue else None,
            reserved_concurrent_executions=args.reserved_concurrency,
            tags=tags,
            # The role's policies must exist before the first invocation can write traces (FR-017).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, *self._role.policies]))

        if args.schedule_expression:
            self._schedule(name, args, tags)

        specs: list[AlarmSpec] = lambda_specs(
            self.function.name, args.timeout_seconds, latency_fraction=args.latency_fraction,
            error_rate_percent=args.alarms.error_rate_percent, errors=args.alarms.errors,
            latency=args.alarms.latency)
        specs += silent_failure_specs(self.function.name, args.alarms.failure_paths)
        if args.alarms.metric_fallback_period_seconds:
            self.fallback_filter = aws.cloudwatch.LogMetricFilter(
                f"{name}-metric-fallback", log_group_name=self.log_group.name, name=f"{fn_name}-metric-fallback",
                pattern=METRIC_FALLBACK_FILTER_PATTERN, opts=child,
                # CloudWatch forbids dimensions together with a default value, so each function
                # counts into its own namespace instead.
                metric_transformation={"name": METRIC_FALLBACK_METRIC, "namespace": fallback_namespace(fn_name),
                                       "value": "1", "default_value": "0"})
            specs.append(metric_fallback_spec(fallback_namespace(fn_name), args.alarms.metric_fallback_period_seconds))
        if self.dead_letter_queue is not None:
            specs.append(dlq_depth_spec(self.dead_letter_queue.name))
        specs += list(args.alarms.extra)
        self.alarm_set = AlarmSet(f"{name}-alarms", AlarmSetArgs(prefix=fn_name, specs=specs, tags=tags,
                                                                  alarm_topic_arn=args.alarm_topic_arn,
                                                                  monitoring=args.monitoring), opts=child)
        if args.monitoring is not None:
            args.monitoring.add_function(self.function.name, streaming=False)
        self.register_outputs({"functionName": self.function.name, "functionArn": self.function.arn,
                               "roleArn": self.role.arn, "alarmNames": self.alarm_set.alarm_names})

    def _schedule(self, name: str, args: TracedLambdaArgs, tags: Mapping[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.schedule = aws.cloudwatch.EventRule(f"{name}-schedule", name=f"{args.function_name}-schedule",
                                                 schedule_expression=args.schedule_expression, tags=dict(tags), opts=child)
        self.schedule_permission = aws.lambda_.Permission(
            f"{name}-schedule-invoke", action="lambda:InvokeFunction", function=self.function.name,
            principal="events.amazonaws.com", source_arn=self.schedule.arn, opts=child)
        aws.cloudwatch.EventTarget(f"{name}-schedule-target", rule=self.schedule.name, arn=self.function.arn,
                                   retry_policy={"maximum_retry_attempts": 2, "maximum_event_age_in_seconds": 3600},
                                   opts=pulumi.ResourceOptions(parent=self, depends_on=[self.schedule_permission]))
