"""Entry point the Pulumi CLI runs (``python -u -m pulumi.policy <engine> <this dir>``).

Only builds the pack: constructing ``PolicyPack`` starts the gRPC server and never returns, so the
rules live in ``xray_rules`` where tests import them without a server. Nothing here may print to
stdout: its first line is the port the CLI reads.
"""
import gc

from pulumi_policy import EnforcementLevel, PolicyPack

from xray_rules import PACK_DESCRIPTION, PACK_NAME, build_policies

# The engine starts this server for one preview, and AnalyzeStack makes the whole stack Python objects that live
# until it answers: full collections would scan that growing heap again and again for nothing to free (9,900
# resources: 3.85 s instead of 2.0, growing faster than the stack). The young collections stay.
young, middle, _ = gc.get_threshold()
gc.set_threshold(young, middle, 2**31 - 1)

PolicyPack(name=PACK_NAME, description=PACK_DESCRIPTION, enforcement_level=EnforcementLevel.ADVISORY,
           policies=build_policies())
