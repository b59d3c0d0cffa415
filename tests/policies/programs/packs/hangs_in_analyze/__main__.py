"""A pack whose resource policy never returns (issue 11: the runner names it at --timeout, and never leaves
the pack process behind when it is ended by a signal).

``HANG_MARKER``, when set, is a file the policy writes its process id to as it starts to hang: the signal
test waits for that instead of sleeping."""
import os
import threading
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def never_returns(args, report_violation):
    marker = os.environ.get("HANG_MARKER")
    if marker:
        Path(marker).write_text(str(os.getpid()))
    threading.Event().wait()  # the hang: nothing ever sets it


PolicyPack(name="hangs-in-analyze", enforcement_level=EnforcementLevel.MANDATORY, policies=[
    ResourceValidationPolicy(name="never-returns", description="waits for ever", validate=never_returns)])
