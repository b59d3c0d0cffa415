"""``DashboardApi``: the REST API in front of the dashboard Lambda, with X-Ray on (US1, FR-015).

API Gateway starts the trace and its sampling rules decide (the dashboard inherits the decision, D13).
CORS allows ``X-Amzn-Trace-Id`` so a browser client can carry its trace (FR-015/016), on preflights and
on gateway-generated errors alike.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from contract.naming import resource_name

from components.alarms import CRITICAL, AlarmClass, AlarmSet, AlarmSetArgs, AlarmSpec, Evaluation
from components.monitoring import Monitoring

TYPE = "sentiment:observability:DashboardApi"
ALLOW_HEADERS = ("Content-Type", "Authorization", "X-Amzn-Trace-Id", "X-User-Id")
EXPOSE_HEADERS = ("X-Amzn-Trace-Id",)


@dataclass
class DashboardApiArgs:
    environment: str
    function_name: pulumi.Input[str]
    function_invoke_arn: pulumi.Input[str]
    allow_origin: str = "*"
    stage_name: str = "v1"
    throttle_rate: float = 100
    throttle_burst: int = 200
    tags: Mapping[str, str] = field(default_factory=dict)
    alarm_topic_arn: Optional[pulumi.Input[str]] = None
    monitoring: Optional[Monitoring] = None


def api_specs(api_name: str, stage: str) -> list[AlarmSpec]:
    dims = {"ApiName": api_name, "Stage": stage}
    return [
        AlarmSpec("5xx-rate", AlarmClass.ERRORS, "API 5XX rate above 1% (FR-138)", "GreaterThanThreshold", 0.01,
                  "5XXError", "AWS/ApiGateway", "Average", dimensions=dims, evaluation=Evaluation(2, 3),
                  severity=CRITICAL),
        AlarmSpec("integration-latency-p99", AlarmClass.LATENCY, "Integration latency p99 above 5 s (FR-138)",
                  "GreaterThanThreshold", 5000, "IntegrationLatency", "AWS/ApiGateway", extended_statistic="p99",
                  dimensions=dims, evaluation=Evaluation(3, 5)),
        AlarmSpec("4xx-count", AlarmClass.ERRORS, "Client errors above 100 per minute", "GreaterThanThreshold", 100,
                  "4XXError", "AWS/ApiGateway", "Sum", dimensions=dims, evaluation=Evaluation(3, 5)),
    ]


class DashboardApi(pulumi.ComponentResource):
    def __init__(self, name: str, args: DashboardApiArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        api_name = resource_name(args.environment, "api")
        cors = {"method.response.header.Access-Control-Allow-Origin": f"'{args.allow_origin}'",
                "method.response.header.Access-Control-Allow-Headers": f"'{','.join(ALLOW_HEADERS)}'",
                "method.response.header.Access-Control-Allow-Methods": "'GET,POST,PUT,DELETE,OPTIONS'",
                "method.response.header.Access-Control-Expose-Headers": f"'{','.join(EXPOSE_HEADERS)}'",
                "method.response.header.Access-Control-Max-Age": "'7200'"}
        # Everything the methods are made of, as data: built from it below and hashed into the deployment.
        routes = {"method": "ANY", "authorization": "NONE", "integration": "AWS_PROXY", "proxy_path": "{proxy+}",
                  "cors": cors, "gateway_responses": ["DEFAULT_4XX", "DEFAULT_5XX"]}
        self.api = aws.apigateway.RestApi(name, name=api_name, endpoint_configuration={"types": "REGIONAL"},
                                          tags=dict(args.tags), opts=child)
        proxy = aws.apigateway.Resource(f"{name}-proxy", rest_api=self.api.id, parent_id=self.api.root_resource_id,
                                        path_part=routes["proxy_path"], opts=child)
        deps: list[pulumi.Resource] = []
        for label, resource_id in (("root", self.api.root_resource_id), ("proxy", proxy.id)):
            method = aws.apigateway.Method(f"{name}-{label}-any", rest_api=self.api.id, resource_id=resource_id,
                                           http_method=routes["method"], authorization=routes["authorization"],
                                           opts=child)
            deps.append(aws.apigateway.Integration(
                f"{name}-{label}-lambda", rest_api=self.api.id, resource_id=resource_id, http_method=method.http_method,
                integration_http_method="POST", type=routes["integration"], uri=args.function_invoke_arn, opts=child))
            options = aws.apigateway.Method(f"{name}-{label}-options", rest_api=self.api.id, resource_id=resource_id,
                                            http_method="OPTIONS", authorization="NONE", opts=child)
            mock = aws.apigateway.Integration(f"{name}-{label}-options-mock", rest_api=self.api.id,
                                              resource_id=resource_id, http_method=options.http_method, type="MOCK",
                                              request_templates={"application/json": '{"statusCode": 200}'}, opts=child)
            response = aws.apigateway.MethodResponse(f"{name}-{label}-options-200", rest_api=self.api.id,
                                                     resource_id=resource_id, http_method=options.http_method,
                                                     status_code="200", response_parameters={k: True for k in cors},
                                                     opts=child)
            deps.append(aws.apigateway.IntegrationResponse(
                f"{name}-{label}-options-cors", rest_api=self.api.id, resource_id=resource_id,
                http_method=options.http_method, status_code=response.status_code, response_parameters=cors,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[mock])))
        gateway_cors = {k.replace("method.response.header", "gatewayresponse.header"): v for k, v in cors.items()}
        for kind in routes["gateway_responses"]:
            deps.append(aws.apigateway.Response(f"{name}-{kind.lower()}", rest_api_id=self.api.id, response_type=kind,
                                                response_parameters=gateway_cors, opts=child))
        aws.lambda_.Permission(f"{name}-invoke", action="lambda:InvokeFunction", function=args.function_name,
                               principal="apigateway.amazonaws.com",
                               source_arn=pulumi.Output.concat(self.api.execution_arn, "/*/*"), opts=child)
        # A stage serves a snapshot: without triggers a later change to a method, an integration or CORS is
        # never redeployed. The trigger is a digest of ``routes``, the data every method above is built from.
        digest = pulumi.Output.from_input(args.function_invoke_arn).apply(
            lambda uri: hashlib.sha256(json.dumps({**routes, "uri": uri}, sort_keys=True).encode()).hexdigest())
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
