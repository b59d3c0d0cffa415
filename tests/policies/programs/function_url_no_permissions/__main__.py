"""function-url-public-permissions: a NONE Function URL with only the InvokeFunctionUrl grant (every request 403)."""
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
api = kit.buffered("api")
aws.lambda_.FunctionUrl("api-url", function_name=api.name, authorization_type="NONE")
kit.public_url_permissions("api", api, invoke=False)
kit.finish()
