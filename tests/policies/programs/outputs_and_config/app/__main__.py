"""Robustness: the project's code lives in a `main:` subdirectory; the stack file holds a
`secure:` value and a structured value; the program references another stack, and exports nested
dicts mixing known values, values unknown in preview, resources and secrets."""
import pulumi
import pulumi_aws as aws
from naming import queue_name

config = pulumi.Config()
token = config.require_secret("apiToken")
limits = config.require_object("limits")

queues = {stage: aws.sqs.Queue(stage, name=queue_name(stage), tags={"owner": config.require("owner")})
          for stage in limits["stages"]}
secret = aws.secretsmanager.Secret("token")
aws.secretsmanager.SecretVersion("token-v1", secret_id=secret.id, secret_string=token)

network = pulumi.StackReference("acme/network/test")
aws.ec2.SecurityGroup("edge", vpc_id=network.get_output("vpcId"), description="edge")

pulumi.export("queues", {stage: {"name": q.name, "url": q.url, "limits": [limits["burst"], q.arn]}
                         for stage, q in queues.items()})
pulumi.export("credentials", {"token": token, "secretArn": secret.arn})
pulumi.export("network", network.get_output("vpcId"))
pulumi.export("firstQueue", queues["beta"])
