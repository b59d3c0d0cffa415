"""function-url-public-permissions passes: a NONE URL on an alias with both grants for that alias, and an
AWS_IAM URL that needs none."""
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
api = kit.buffered("api")
aws.lambda_.FunctionUrl("api-url", function_name=api.name, qualifier="live", authorization_type="NONE")
kit.public_url_permissions("api", api, qualifier="live")
private = kit.buffered("private")
aws.lambda_.FunctionUrl("private-url", function_name=private.name, authorization_type="AWS_IAM")
kit.finish()
