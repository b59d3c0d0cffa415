"""``DashboardApi``: the REST API in front of the dashboard Lambda, with X-Ray on (US1, FR-015).

API Gateway starts the trace and its sampling rules decide (the dashboard inherits the decision, D13). The
routes come from ``contract.api``: public ones open, a user's routes behind a Cognito authorizer (D16), so the
handler reads the user from verified claims. Every method, preflights included, is a Lambda proxy: with a
proxy integration the function's own response must carry CORS headers, and only the function can reflect
whichever configured origin asked. Gateway-generated errors carry the first configured origin.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.alarms import CRITICAL, AlarmClass, AlarmSet, AlarmSetArgs, AlarmSpec, Evaluation
from components.monitoring import Monitoring
from contract import api as contract_api
from contract.naming import resource_name

TYPE = "sentiment:observability:DashboardApi"


@dataclass
class DashboardApiArgs:
    environment: str
    function_name: pulumi.Input[str]
    function_invoke_arn: pulumi.Input[str]
    allow_origins: Sequence[str]                 # CORS fails closed: at least one, never "*"
    user_pool_arn: pulumi.Input[str]             # the Cognito pool that authorizes the user routes
    stage_name: str = "v1"
    throttle_rate: float = 100
    throttle_burst: int = 200
    tags: Mapping[str, str] = field(default_factory=dict)
    alarm_topic_arn: Optional[pulumi.Input[str]] = None
    monitoring: Optional[Monitoring] = None
    routes: Sequence[contract_api.Route] = contract_api.ROUTES

    def __post_init__(self) -> None:
        if not self.allow_origins or "*" in self.allow_origins:
            raise ValueError("DashboardApi: list the allowed origins explicitly (at least one, never '*')")
        if not self.routes:
            raise ValueError("DashboardApi: give at least one route")


def api_specs(api_name: str, stage: str) -> list[AlarmSpec]:
    dims = {"ApiName": api_name, "Stage": stage}
    return [
        AlarmSpec(suffix="5xx-rate", alarm_class=AlarmClass.ERRORS, description="API 5XX rate above 1% (FR-138)",
                  comparison="GreaterThanThreshold", threshold=0.01, metric_name="5XXError",
                  namespace="AWS/ApiGateway", statistic="Average", dimensions=dims,
                  evaluation=Evaluation(2, 3), severity=CRITICAL),
        AlarmSpec(suffix="integration-latency-p99", alarm_class=AlarmClass.LATENCY,
                  description="Integration latency p99 above 5 s (FR-138)",
                  comparison="GreaterThanThreshold", threshold=5000, metric_name="IntegrationLatency",
                  namespace="AWS/ApiGateway", extended_statistic="p99", dimensions=dims,
                  evaluation=Evaluation(3, 5)),
        AlarmSpec(suffix="4xx-count", alarm_class=AlarmClass.ERRORS,
                  description="Client errors above 100 per minute", comparison="GreaterThanThreshold",
                  threshold=100, metric_name="4XXError", namespace="AWS/ApiGateway", statistic="Sum",
                  dimensions=dims, evaluation=Evaluation(3, 5)),
    ]


class DashboardApi(pulumi.ComponentResource):
    def __init__(self, name: str, args: DashboardApiArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        api_name = resource_name(args.environment, "api")
        self.api = aws.apigateway.RestApi(name, name=api_name, endpoint_configuration={"types": "REGIONAL"},
                                          tags=dict(args.tags), opts=child)
        self._resources: dict[tuple[str, ...], pulumi.Input[str]] = {(): self.api.root_resource_id}
        self.authorizer = aws.apigateway.Authorizer(
            f"{name}-cognito", rest_api=self.api.id, type="COGNITO_USER_POOLS", provider_arns=[args.user_pool_arn],
            identity_source="method.request.header.Authorization", opts=child)

        deps: list[pulumi.Resource] = []
        for path, routes in _by_path(args.routes).items():
            resource_id = self._resource(name, path)
            label = _label(path)
            # Preflights go to the function too: only it can answer for whichever allowed origin asks.
            for method, authorized in [(r.method, r.authorized) for r in routes] + [("OPTIONS", False)]:
                m = aws.apigateway.Method(
                    f"{name}-{label}-{method.lower()}", rest_api=self.api.id, resource_id=resource_id,
                    http_method=method, authorization="COGNITO_USER_POOLS" if authorized else "NONE",
                    authorizer_id=self.authorizer.id if authorized else None, opts=child)
                deps.append(aws.apigateway.Integration(
                    f"{name}-{label}-{method.lower()}-lambda", rest_api=self.api.id, resource_id=resource_id,
                    http_method=m.http_method, integration_http_method="POST", type="AWS_PROXY",
                    uri=args.function_invoke_arn, opts=child))
        gateway_cors = {
            "gatewayresponse.header.Access-Control-Allow-Origin": f"'{args.allow_origins[0]}'",
            "gatewayresponse.header.Access-Control-Allow-Headers": f"'{','.join(contract_api.CORS_ALLOW_HEADERS)}'",
            "gatewayresponse.header.Access-Control-Expose-Headers": f"'{','.join(contract_api.CORS_EXPOSE_HEADERS)}'"}
        for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
            deps.append(aws.apigateway.Response(f"{name}-{kind.lower()}", rest_api_id=self.api.id, response_type=kind,
                                                response_parameters=gateway_cors, opts=child))
        aws.lambda_.Permission(f"{name}-invoke", action="lambda:InvokeFunction", function=args.function_name,
                               principal="apigateway.amazonaws.com",
                               source_arn=pulumi.Output.concat(self.api.execution_arn, "/*/*"), opts=child)
        # A stage serves a snapshot: without triggers a later change to a route, an integration or CORS is never
        # redeployed. The trigger digests everything the methods above are built from.
        shape = {"routes": [(r.method, r.path, r.authorized) for r in args.routes], "gateway_cors": gateway_cors}
        digest = pulumi.Output.all(args.function_invoke_arn, args.user_pool_arn).apply(
            lambda v: hashlib.sha256(json.dumps({**shape, "uri": v[0], "pool": v[1]}, sort_keys=True).encode())
            .hexdigest())
        deployment = aws.apigateway.Deployment(f"{name}-deployment", rest_api=self.api.id,
                                               triggers={"redeployment": digest},
                                               opts=pulumi.ResourceOptions(parent=self, depends_on=deps))
        self.stage = aws.apigateway.Stage(f"{name}-stage", rest_api=self.api.id, deployment=deployment.id,
                                          stage_name=args.stage_name, xray_tracing_enabled=True,
                                          tags=dict(args.tags), opts=child)
        aws.apigateway.MethodSettings(f"{name}-throttle", rest_api=self.api.id, stage_name=self.stage.stage_name,
                                      method_path="*/*", settings={"throttling_rate_limit": args.throttle_rate,
                                                                   "throttling_burst_limit": args.throttle_burst,
                                                                   "metrics_enabled": True}, opts=child)
        self.alarm_set = AlarmSet(f"{name}-alarms", AlarmSetArgs(prefix=api_name, specs=api_specs(api_name, args.stage_name),
                                                                  tags=dict(args.tags),
                                                                  alarm_topic_arn=args.alarm_topic_arn,
                                                                  monitoring=args.monitoring), opts=child)
        self.url = self.stage.invoke_url
        self.register_outputs({"url": self.url, "alarmNames": self.alarm_set.alarm_names})

    def _resource(self, name: str, path: tuple[str, ...]) -> pulumi.Input[str]:
        """The API Gateway resource id of ``path``, creating each missing segment once."""
        if path not in self._resources:
            parent = self._resource(name, path[:-1])
            self._resources[path] = aws.apigateway.Resource(
                f"{name}-{_label(path)}", rest_api=self.api.id, parent_id=parent, path_part=path[-1],
                opts=pulumi.ResourceOptions(parent=self)).id
        return self._resources[path]


def _by_path(routes: Sequence[contract_api.Route]) -> dict[tuple[str, ...], list[contract_api.Route]]:
    out: dict[tuple[str, ...], list[contract_api.Route]] = {}
    for route in routes:
        out.setdefault(route.segments, []).append(route)
    return out


def _label(path: tuple[str, ...]) -> str:
    """A logical-name fragment for a path: ``api-v2-timeseries-ticker`` (root: ``root``)."""
    return "-".join(seg.strip("{}") for seg in path) or "root"
