"""A pack whose resource policy fails (issue 11: the runner reports the pack's failure in one line, exit 2).

``FAIL_MODE`` says how: ``raise`` (the default) raises, as a policy with a bug does; ``exit`` ends the pack's
process in the middle of the call, as a crash does."""
import os

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def fails(args, report_violation):
    if args.resource_type != "aws:sqs/queue:Queue":
        return  # the default provider, analyzed first as the engine does, passes
    if os.environ.get("FAIL_MODE") == "exit":
        os._exit(3)
    raise RuntimeError(f"the policy broke on {args.name}")


PolicyPack(name="fails-in-analyze", enforcement_level=EnforcementLevel.MANDATORY, policies=[
    ResourceValidationPolicy(name="fails", description="raises, or ends its process", validate=fails)])
