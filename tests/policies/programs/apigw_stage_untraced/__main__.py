"""apigateway-stage-tracing: a REST API stage left at API Gateway's default (no X-Ray tracing)."""
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
api = aws.apigateway.RestApi("api", name="fixture-api")
deployment = aws.apigateway.Deployment("api-deployment", rest_api=api.id)
aws.apigateway.Stage("api-stage", rest_api=api.id, deployment=deployment.id, stage_name="prod")
kit.finish()
