"""Names unknown at preview: the function's name is computed from a queue ARN (unknown until
create), so the alarms' FunctionName is unknown too; the policies must link them through property
dependencies. The apply on the ARN must not run in preview (it would crash on None)."""
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
bucket = aws.sqs.Queue("artifacts")
fn_name = bucket.arn.apply(lambda arn: "fn-" + arn.rsplit(":", 1)[-1][:20])
crash_if_run_on_none = bucket.arn.apply(lambda arn: arn.upper())
kit.buffered("api", fn_name=fn_name)

pulumi.export("upper", crash_if_run_on_none)

# A second function whose name is unknown too and which has no Errors alarm: it must still be reported,
# so the linkage above is real and not a skip of everything unknown.
orphan_name = bucket.arn.apply(lambda arn: "orphan-" + arn.rsplit(":", 1)[-1][:20])
orphan = kit.function("orphan", fn_name=orphan_name)
kit.duration_alarm("orphan", orphan.name, 30)
kit.finish()
