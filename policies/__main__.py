"""Entry point the Pulumi CLI runs (``python -u -m pulumi.policy <engine> <this dir>``).

Only builds the pack: constructing ``PolicyPack`` starts the gRPC server and never returns, so the
rules live in ``xray_rules`` where tests import them without a server. Nothing here may print to
stdout: its first line is the port the CLI reads.
"""
from pulumi_policy import EnforcementLevel, PolicyPack

from xray_rules import PACK_DESCRIPTION, PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, description=PACK_DESCRIPTION, enforcement_level=EnforcementLevel.ADVISORY,
           policies=build_policies())
