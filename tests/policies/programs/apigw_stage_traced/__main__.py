"""apigateway-stage-tracing passes: the REST stage traces; an HTTP API (apigatewayv2) stage has no X-Ray setting
and is not judged (X-Ray traces only REST APIs)."""
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
api = aws.apigateway.RestApi("api", name="fixture-api")
deployment = aws.apigateway.Deployment("api-deployment", rest_api=api.id)
aws.apigateway.Stage("api-stage", rest_api=api.id, deployment=deployment.id, stage_name="prod",
                     xray_tracing_enabled=True)
http = aws.apigatewayv2.Api("http-api", protocol_type="HTTP")
aws.apigatewayv2.Stage("http-stage", api_id=http.id, name="$default", auto_deploy=True)
kit.finish()
