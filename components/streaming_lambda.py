"""``StreamingTracedLambda``: the SSE function as a container image behind a RESPONSE_STREAM URL (D1).

Python has no native Lambda response streaming, so the image runs a Starlette app under the Lambda Web
Adapter, with the ADOT collector-only extension as the OTLP sidecar. Its X-Ray segment closes before the
stream starts, so streaming-time work is traced by OpenTelemetry (D2): the component sets the OTel
environment the app reads, and refuses ``AWS_LAMBDA_EXEC_WRAPPER`` outright (FR-046: the ADOT wrapper
would wrap the handler and botocore a second time). Its Duration is its stream length, so it is alarmed on
connection setup and event latency instead (D7).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.alarms import (
    AlarmSet,
    AlarmSetArgs,
    AlarmSpec,
    export_failure_specs,
    lambda_specs,
    streaming_specs,
)
from components.iam import LambdaRole, Statement
from components.limits import check_function
from components.monitoring import Monitoring
from contract import env as env_names
from contract import streaming
from contract.metrics import (
    APP_EXPORT_FAILURE_PATTERN,
    APP_EXPORT_FAILURES,
    COLLECTOR_EXPORT_FAILURE_PATTERN,
    COLLECTOR_EXPORT_FAILURES,
    fallback_namespace,
)
from contract.naming import function_name

TYPE = "sentiment:observability:StreamingTracedLambda"
#: An image reference pinned by content: ``name[:tag]@sha256:<64 hex>``.
_PINNED_IMAGE = re.compile(r"[^\s@]+@sha256:[0-9a-f]{64}")


@dataclass
class ImageSource:
    """Where the image is built from: a build context, the Dockerfile in it, the tag, build arguments."""

    context_dir: Path
    dockerfile: Path
    version: str
    build_args: Mapping[str, str] = field(default_factory=dict)
    platform: docker_build.Platform = docker_build.Platform.LINUX_AMD64

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", self.version):
            raise ValueError(f"image version {self.version!r} is not a valid image tag")
        # A tag can be moved to other content; a digest cannot (issue 9). Base images come in as *_IMAGE arguments.
        unpinned = {k: v for k, v in self.build_args.items() if k.endswith("_IMAGE") and not _PINNED_IMAGE.fullmatch(v)}
        if unpinned:
            raise ValueError(f"image build arguments {unpinned} are not pinned by digest: give <image>:<tag>@sha256:<64 hex> "
                             "(docker buildx imagetools inspect <image>:<tag> shows the digest)")


@dataclass
class StreamingTracedLambdaArgs:
    environment: str
    function: str                       # logical name: "sse-streaming"
    image: ImageSource
    service_name: str = streaming.SERVICE_NAME
    memory_mb: int = 1024               # FR-102
    timeout_seconds: int = 900
    reserved_concurrency: int = 25      # D13: on Lambda, the number of simultaneous streams (one per environment),
                                        # and so the trace rate a client's Sampled=1 can force
    env_vars: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    statements: Sequence[Statement] = ()
    cors_allow_origins: Sequence[str] = ("*",)
    log_retention_days: int = 30
    max_connections: int = 100
    poll_interval_seconds: int = 5      # DynamoDB poll of the by_sentiment index
    heartbeat_seconds: int = 30
    extra_alarms: Sequence[AlarmSpec] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    # Where alarms go: the stack's monitoring registry (its topic and defaults; the alarm set registers
    # there), or a topic alone for a program without one.
    alarm_topic_arn: Optional[pulumi.Input[str]] = None
    monitoring: Optional[Monitoring] = None

    def __post_init__(self) -> None:
        if self.alarm_topic_arn is None and self.monitoring is None:
            raise ValueError(f"{self.function}: give monitoring (the stack's registry) or alarm_topic_arn")
        if streaming.EXEC_WRAPPER_VAR in self.env_vars:
            raise ValueError(
                f"{self.function}: {streaming.EXEC_WRAPPER_VAR} must not be set on a streaming function (FR-046): the "
                "ADOT wrapper double-wraps the handler and botocore. Remove it; spans go to the collector "
                "extension over OTLP instead (D1/D2).")
        clash = sorted(k for k in self.env_vars if k.startswith("OTEL_") or k.startswith("AWS_LWA_"))
        if clash:
            raise ValueError(f"{self.function}: {clash} are set by the component (D2); remove them from env_vars")
        check_function(self.function, self.timeout_seconds, self.memory_mb)
        if self.reserved_concurrency < 1:
            raise ValueError(f"{self.function}: reserved_concurrency must be >= 1 (it bounds client-forced sampling, D13)")
        if not 1 <= self.poll_interval_seconds <= 60 or not self.poll_interval_seconds < self.heartbeat_seconds <= 300:
            raise ValueError(f"{self.function}: need 1 <= poll_interval_seconds <= 60 and poll < heartbeat <= 300 s")
        if not self.cors_allow_origins:
            raise ValueError(f"{self.function}: give at least one CORS origin")

    @property
    def function_name(self) -> str:
        return function_name(self.environment, self.function)


class StreamingTracedLambda(pulumi.ComponentResource):
    function: aws.lambda_.Function
    function_url: aws.lambda_.FunctionUrl
    repository: aws.ecr.Repository
    image: docker_build.Image
    alarm_set: AlarmSet

    def __init__(self, name: str, args: StreamingTracedLambdaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        fn_name = args.function_name
        tags = {**args.tags, "function": args.function, "streaming": "true"}

        self.repository = aws.ecr.Repository(f"{name}-repo", name=fn_name, image_tag_mutability="IMMUTABLE",
                                             image_scanning_configuration={"scan_on_push": True},
                                             force_delete=False, tags=tags, opts=child)
        token = aws.ecr.get_authorization_token_output(registry_id=self.repository.registry_id)
        self.image = docker_build.Image(
            f"{name}-image",
            context={"location": str(args.image.context_dir)},
            dockerfile={"location": str(args.image.dockerfile)},
            platforms=[args.image.platform],
            build_args=dict(args.image.build_args),
            push=True,
            tags=[pulumi.Output.concat(self.repository.repository_url, ":", args.image.version)],
            registries=[{"address": self.repository.repository_url, "username": token.user_name,
                         "password": token.password}],
            opts=child)

        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", name=f"/aws/lambda/{fn_name}",
                                                 retention_in_days=args.log_retention_days, tags=tags, opts=child)
        self._role = LambdaRole(name, self, self.log_group.arn, args.statements, tags)
        self.role = self._role.role
        env = {env_names.ENVIRONMENT: args.environment, env_names.SSE_MAX_CONNECTIONS: str(args.max_connections),
               env_names.SSE_POLL_INTERVAL_SECONDS: str(args.poll_interval_seconds),
               env_names.SSE_HEARTBEAT_SECONDS: str(args.heartbeat_seconds),
               **streaming.otel_environment(args.service_name), **args.env_vars}
        self.function = aws.lambda_.Function(
            name, name=fn_name, role=self.role.arn, package_type="Image", image_uri=self.image.ref,
            memory_size=args.memory_mb, timeout=args.timeout_seconds, tracing_config={"mode": "Active"},
            reserved_concurrent_executions=args.reserved_concurrency, environment={"variables": env}, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, *self._role.policies]))
        self.function_url = aws.lambda_.FunctionUrl(
            f"{name}-url", function_name=self.function.name, authorization_type="NONE", invoke_mode="RESPONSE_STREAM",
            cors={"allow_origins": list(args.cors_allow_origins), "allow_methods": list(streaming.CORS_ALLOW_METHODS),
                  "allow_headers": list(streaming.CORS_ALLOW_HEADERS),
                  "expose_headers": list(streaming.CORS_EXPOSE_HEADERS),
                  "max_age": streaming.CORS_MAX_AGE_SECONDS},
            opts=child)
        # An auth-type NONE URL still answers 403 until the function's resource policy grants the public both
        # actions (URLs created since October 2025 need both); InvokeFunction is limited to URL invocations so
        # nobody can call the Invoke API directly (docs/aws-facts.md).
        self.url_permissions = [
            aws.lambda_.Permission(f"{name}-url-public", action="lambda:InvokeFunctionUrl", principal="*",
                                   function=self.function.name, function_url_auth_type="NONE", opts=child),
            aws.lambda_.Permission(f"{name}-url-invoke", action="lambda:InvokeFunction", principal="*",
                                   function=self.function.name, invoked_via_function_url=True, opts=child),
        ]

        # The collector extension logs into the function's log group: its failed exports to X-Ray are the only
        # sign that streaming spans are being lost (issue 9). CloudWatch forbids dimensions together with a
        # default value, so the count goes to the function's own namespace, as the buffered functions' fallback.
        self.collector_filter = aws.cloudwatch.LogMetricFilter(
            f"{name}-collector-export-failures", log_group_name=self.log_group.name,
            name=f"{fn_name}-collector-export-failures", pattern=COLLECTOR_EXPORT_FAILURE_PATTERN, opts=child,
            metric_transformation={"name": COLLECTOR_EXPORT_FAILURES, "namespace": fallback_namespace(fn_name),
                                   "value": "1", "default_value": "0"})
        # ... and the hop before it: the app's batches the collector never took (the app logs each one).
        self.app_export_filter = aws.cloudwatch.LogMetricFilter(
            f"{name}-app-export-failures", log_group_name=self.log_group.name,
            name=f"{fn_name}-app-export-failures", pattern=APP_EXPORT_FAILURE_PATTERN, opts=child,
            metric_transformation={"name": APP_EXPORT_FAILURES, "namespace": fallback_namespace(fn_name),
                                   "value": "1", "default_value": "0"})
        specs = lambda_specs(self.function.name, args.timeout_seconds, include_duration=False)
        specs += streaming_specs(self.function.name) + export_failure_specs(fallback_namespace(fn_name))
        specs += list(args.extra_alarms)
        self.alarm_set = AlarmSet(f"{name}-alarms", AlarmSetArgs(prefix=fn_name, specs=specs, tags=tags,
                                                                  alarm_topic_arn=args.alarm_topic_arn,
                                                                  monitoring=args.monitoring), opts=child)
        if args.monitoring is not None:
            args.monitoring.add_function(self.function.name, streaming=True)
        self.register_outputs({"functionName": self.function.name, "url": self.function_url.function_url,
                               "imageRef": self.image.ref, "alarmNames": self.alarm_set.alarm_names})
