"""Robustness: a resource object passed where its id or ARN is expected (`role=role`), an
existing resource read with `Role.get`, and an explicit provider. Under the SDK's mock monitor the
resource reference used to be rebuilt on the wrong event loop: the run failed or hung. The engine
hands the provider the resource's id, and so must the runner."""
import json

import pulumi
import pulumi_aws as aws

executor = aws.iam.Role("executor", assume_role_policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]}))
west = aws.Provider("west", region="us-west-2")
aws.lambda_.Function("worker", role=executor, runtime="python3.12", handler="main.handle",
                     code=pulumi.StringAsset("def handle(event, context):\n    return None\n"),
                     tracing_config={"mode": "Active"}, opts=pulumi.ResourceOptions(provider=west))
ops = aws.iam.Role.get("ops", "ops-admin")
pulumi.export("opsArn", ops.arn)
