"""Building blocks for the policy fixture programs: plain ``pulumi_aws`` resources, no project components.

``Kit`` builds a stack that passes every policy of the pack (Active tracing, X-Ray permissions, Errors
and p95 Duration alarms at 85% of the timeout, actions on every alarm, a budget at $10/$25/$50 and a
dashboard listing every alarm); each fixture program then breaks exactly one rule.
"""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

ASSUME = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
XRAY_MANAGED = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
CODE = pulumi.AssetArchive({"app.py": pulumi.StringAsset("def handler(event, context):\n    return {}\n")})
OTEL_ENV = {
    "POWERTOOLS_SERVICE_NAME": "sse", "OTEL_SERVICE_NAME": "sse", "OTEL_PROPAGATORS": "xray-lambda",
    "OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2",
}


class Kit:
    def __init__(self, opts: pulumi.ResourceOptions | None = None):
        self.opts = opts
        self.topic = aws.sns.Topic("alarm-topic", opts=opts)
        self.alarms: list = []

    # -- IAM -----------------------------------------------------------------------------------
    def role(self, name: str, *, xray: str = "managed", opts=None) -> aws.iam.Role:
        role = aws.iam.Role(f"{name}-role", assume_role_policy=ASSUME, opts=opts or self.opts)
        if xray == "managed":
            aws.iam.RolePolicyAttachment(f"{name}-xray", role=role.name, policy_arn=XRAY_MANAGED, opts=opts or self.opts)
        elif xray == "inline":
            aws.iam.RolePolicy(f"{name}-xray", role=role.id, opts=opts or self.opts, policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["xray:Put*", "xray:GetSampling*"],
                                                        "Resource": "*"}]}))
        return role

    # -- functions -----------------------------------------------------------------------------
    def function(self, name: str, *, role=None, tracing: str | None = "Active", timeout: int = 30,
                 env: dict | None = None, fn_name=None, image: bool = False, opts=None) -> aws.lambda_.Function:
        role = role or self.role(name, opts=opts)
        kwargs = dict(package_type="Image", image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/sse:1") if image \
            else dict(runtime="python3.13", handler="app.handler", code=CODE)
        return aws.lambda_.Function(
            name, name=fn_name, role=role.arn, timeout=timeout,
            tracing_config={"mode": tracing} if tracing else None,
            environment={"variables": env} if env else None, opts=opts or self.opts, **kwargs)

    # -- alarms --------------------------------------------------------------------------------
    def alarm(self, name: str, *, alarm_class: str | None, treat: str | None, opts=None, actions=True, **kwargs):
        alarm = aws.cloudwatch.MetricAlarm(
            name, tags={"alarm-class": alarm_class} if alarm_class else None, treat_missing_data=treat,
            alarm_actions=[self.topic.arn] if actions else [], ok_actions=[self.topic.arn] if actions else [],
            evaluation_periods=kwargs.pop("evaluation_periods", 1), opts=opts or self.opts, **kwargs)
        self.alarms.append(alarm)
        return alarm

    def error_alarm(self, name: str, function_name, opts=None):
        return self.alarm(f"{name}-errors", alarm_class="errors", treat="notBreaching", namespace="AWS/Lambda",
                          metric_name="Errors", statistic="Sum", period=60, threshold=1,
                          comparison_operator="GreaterThanOrEqualToThreshold",
                          dimensions={"FunctionName": function_name}, opts=opts)

    def duration_alarm(self, name: str, function_name, timeout: int, fraction: float = 0.85, opts=None):
        return self.alarm(f"{name}-p95-duration", alarm_class="latency", treat="missing", namespace="AWS/Lambda",
                          metric_name="Duration", extended_statistic="p95", period=60, threshold=timeout * 1000 * fraction,
                          comparison_operator="GreaterThanThreshold", dimensions={"FunctionName": function_name},
                          opts=opts)

    def buffered(self, name: str, *, timeout: int = 30, **kwargs) -> aws.lambda_.Function:
        fn = self.function(name, timeout=timeout, **kwargs)
        self.error_alarm(name, fn.name)
        self.duration_alarm(name, fn.name, timeout)
        return fn

    def public_url_permissions(self, name: str, fn, *, url: bool = True, invoke: bool = True, qualifier=None):
        """The two grants a NONE Function URL needs (docs/aws-facts.md PRM-7)."""
        if url:
            aws.lambda_.Permission(f"{name}-url-public", action="lambda:InvokeFunctionUrl", principal="*",
                                   function=fn.name, function_url_auth_type="NONE", qualifier=qualifier, opts=self.opts)
        if invoke:
            aws.lambda_.Permission(f"{name}-url-invoke", action="lambda:InvokeFunction", principal="*",
                                   function=fn.name, invoked_via_function_url=True, qualifier=qualifier, opts=self.opts)

    def streaming(self, name: str, *, env: dict | None = None, latency_alarm: bool = True) -> aws.lambda_.Function:
        fn = self.function(name, image=True, timeout=900, env=env if env is not None else dict(OTEL_ENV))
        aws.lambda_.FunctionUrl(f"{name}-url", function_name=fn.name, authorization_type="NONE",
                                invoke_mode="RESPONSE_STREAM", opts=self.opts)
        self.public_url_permissions(name, fn)
        self.error_alarm(name, fn.name)
        if latency_alarm:
            self.alarm(f"{name}-event-latency", alarm_class="latency", treat="missing",
                       namespace="SentimentAnalyzer/SSE", metric_name="EventLatencyMs", extended_statistic="p95",
                       period=60, threshold=3000, comparison_operator="GreaterThanThreshold",
                       dimensions={"FunctionName": fn.name})
        return fn

    # -- stack-wide ----------------------------------------------------------------------------
    def budget(self, thresholds=(10, 25, 50)):
        return aws.budgets.Budget("xray-budget", budget_type="COST", limit_amount="50", limit_unit="USD",
                                  time_unit="MONTHLY", cost_filters=[{"name": "Service", "values": ["AWS X-Ray"]}],
                                  notifications=[{"comparison_operator": "GREATER_THAN", "notification_type": "ACTUAL",
                                                  "threshold": t, "threshold_type": "ABSOLUTE_VALUE",
                                                  "subscriber_sns_topic_arns": [self.topic.arn]} for t in thresholds],
                                  opts=self.opts)

    def dashboard(self, alarms=None):
        alarms = self.alarms if alarms is None else alarms
        body = pulumi.Output.all(*[a.name for a in alarms]).apply(lambda names: json.dumps({"widgets": [{
            "type": "alarm", "x": 0, "y": 0, "width": 24, "height": 6,
            "properties": {"title": "All alarms",
                           "alarms": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{n}" for n in names]}}]}))
        return aws.cloudwatch.Dashboard("operations", dashboard_name="operations", dashboard_body=body, opts=self.opts)

    def finish(self, *, budget: bool = True, dashboard: bool = True):
        if budget:
            self.budget()
        if dashboard:
            self.dashboard()
