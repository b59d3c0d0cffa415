"""Suppressions (issue 11): PassThrough functions whose lambda-tracing-active finding is suppressed by a tag (two
spellings), by a config entry (the test passes it), or not at all (an expired tag, a reason-less tag); and a
function without its Errors alarm whose lambda-error-alarm finding (a stack policy) is suppressed by a tag."""
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import CODE, Kit  # noqa: E402

TRACING = "policy-suppress:lambda-tracing-active"
FUTURE = "2099-12-31"

kit = Kit()


def function(name: str, *, tracing: str, tags: dict | None, errors_alarm: bool = True):
    fn = aws.lambda_.Function(name, role=kit.role(name).arn, runtime="python3.13", handler="app.handler", code=CODE,
                              timeout=30, tracing_config={"mode": tracing}, tags=tags)
    if errors_alarm:
        kit.error_alarm(name, fn.name)
    kit.duration_alarm(name, fn.name, 30)
    return fn


function("legacy", tracing="PassThrough", tags={TRACING: f"traced by the caller until the v2 handler expires={FUTURE}"})
function("semicolon", tracing="PassThrough", tags={TRACING: f"sampled upstream; expires={FUTURE}"})
function("stale", tracing="PassThrough", tags={TRACING: "waiting for the v2 handler expires=2020-01-01"})
function("bare", tracing="PassThrough", tags={TRACING: f"expires={FUTURE}"})
function("batch", tracing="PassThrough", tags=None)
function("quiet", tracing="Active", errors_alarm=False,
         tags={"policy-suppress:lambda-error-alarm": f"errors are alarmed by the queue's DLQ depth expires={FUTURE}"})
kit.finish()
