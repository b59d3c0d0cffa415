"""Canary Lambda: every few minutes, proves that X-Ray and CloudWatch still receive what we send.

It is the one non-X-Ray mechanism (FR-021) and the only function exempt from fail-fast (FR-145): a check
that fails is recorded, reported out of band and the other checks still run. AccessDenied is not
transient and escalates at once (FR-079). Reports go straight to the SNS topic in the second region,
never through a CloudWatch alarm (FR-050). Its own invocation is traced and logged like the buffered
handlers' (``common.lambda_handler``); its clients are built afresh for each run (``common.aws``), and each
call gets timeouts and retries that fit in the run's time left, so a dependency that never answers fails
that check, not the whole run by a timeout.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from botocore.exceptions import BotoCoreError, ClientError
from canary_checks import CanaryState, count_retrieved, probe_visible, put_probe, submit_traces

from common import budget, client, lambda_handler, require_env, reset_clients
from contract import env, metrics
from contract.alarms import TRACE_COMPLETENESS_FLOOR

#: A failed check's error text in the out-of-band report is cut to this many characters.
REPORT_MESSAGE_LIMIT = 256
HEALTH_TIMEOUT_SECONDS = 5
#: The checks may use this share of the run's time left: sending the out-of-band report and saving the state for
#: the next run keep the rest, even when every check's dependency hangs.
CHECKS_SHARE = 0.7


class Escalation(RuntimeError):
    """A failure no retry will fix (permissions): reported out of band, then the run fails."""


@dataclass
class Settings:
    namespace: str
    state_parameter: str
    out_of_band_topic_arn: str
    batch_size: int
    environment: str
    health_url: Optional[str]

    @classmethod
    def from_env(cls) -> Settings:
        """Every required variable at once (``contract.env.REQUIRED["canary"]``); the health URL is optional."""
        cfg = require_env(*env.REQUIRED["canary"])
        return cls(namespace=cfg[env.CANARY_NAMESPACE], state_parameter=cfg[env.CANARY_STATE_PARAMETER],
                   out_of_band_topic_arn=cfg[env.OUT_OF_BAND_TOPIC_ARN], batch_size=int(cfg[env.CANARY_BATCH_SIZE]),
                   environment=cfg[env.ENVIRONMENT], health_url=os.environ.get(env.CANARY_HEALTH_URL) or None)


def _is_access_denied(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code", "") in (
        "AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def _health(url: str) -> bool:
    timeout = budget.http_timeout("api health", HEALTH_TIMEOUT_SECONDS)
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (https URL from the program)
        return 200 <= resp.status < 300


def run(settings: Settings, now: Optional[float] = None) -> dict[str, Any]:
    """One canary run; returns the report that was emitted (and published when unhealthy)."""
    now = time.time() if now is None else now
    state = CanaryState.parse(client("ssm").get_parameter(Name=settings.state_parameter)["Parameter"]["Value"])
    report: dict[str, Any] = {"run": state.run + 1, "failures": []}
    try:
        with budget.phase(CHECKS_SHARE):  # the report and the state keep the rest of the time
            new_ids, probe_put, emitted = _checks(settings, state, report, now)
        if report["failures"] or not emitted:
            _publish(settings, report)
    except Escalation as exc:
        report["failures"].append({"check": "escalation", "error": str(exc)[:REPORT_MESSAGE_LIMIT]})
        report["healthy"] = False
        _publish(settings, report)
        raise
    client("ssm").put_parameter(Name=settings.state_parameter, Overwrite=True, Type="String", Value=CanaryState(
        trace_ids=new_ids, probe_timestamp=now if probe_put else None, run=report["run"]).dumps())
    return report


def _checks(settings: Settings, state: CanaryState, report: dict[str, Any], now: float) -> tuple[list[str], bool, bool]:
    """Run every check, recording failures in ``report``; (this run's trace ids, probe put, metrics emitted)."""
    dims = [{"Name": metrics.ENVIRONMENT_DIMENSION, "Value": settings.environment}]

    def attempt(check: str, fn):
        try:
            return fn()
        except (ClientError, BotoCoreError, OSError) as exc:
            if _is_access_denied(exc):
                raise Escalation(f"{check}: {exc}") from exc
            report["failures"].append({"check": check,
                                       "error": f"{type(exc).__name__}: {str(exc)[:REPORT_MESSAGE_LIMIT]}"})
            return None

    def sent(send: Callable[[], None]) -> Callable[[], bool]:
        """``send`` answering True once it returned, so that ``attempt`` gives True, or None if it failed."""
        def run() -> bool:
            send()
            return True
        return run

    if state.trace_ids:
        got = attempt("trace_retrieval", lambda: count_retrieved(client("xray"), state.trace_ids))
        if got is not None:
            found, partial, unprocessed = got
            report.update(trace_completeness=found / len(state.trace_ids), traces_lost=len(state.trace_ids) - found,
                          traces_partial=partial, traces_unprocessed=unprocessed)
            if report["trace_completeness"] < TRACE_COMPLETENESS_FLOOR:
                report["failures"].append({"check": "trace_completeness",
                                           "error": f"{found} of {len(state.trace_ids)} traces retrieved "
                                                    f"({unprocessed} left unprocessed by X-Ray)"})
    submitted = attempt("trace_submission", lambda: submit_traces(client("xray"), settings.batch_size, report["run"], now))
    new_ids = submitted[0] if submitted else []
    if submitted and submitted[1]:
        report["failures"].append({"check": "trace_submission", "error": f"{submitted[1]} documents refused"})
    if state.probe_timestamp is not None:
        seen = attempt("metric_roundtrip", lambda: probe_visible(client("cloudwatch"), settings.namespace, dims,
                                                                 state.probe_timestamp))
        report["metric_roundtrip"] = bool(seen)
        if seen is False:
            report["failures"].append({"check": "metric_roundtrip", "error": "previous probe not readable back"})
    probe_put = attempt("metric_probe", sent(lambda: put_probe(client("cloudwatch"), settings.namespace, dims, now)))
    if settings.health_url:
        healthy = attempt("api_health", lambda: _health(settings.health_url))
        if healthy is False:
            report["failures"].append({"check": "api_health", "error": "health endpoint not 2xx"})
    report["healthy"] = not report["failures"]
    emitted = attempt("metric_emission", sent(lambda: _emit(client("cloudwatch"), settings.namespace, dims, report)))
    return new_ids, bool(probe_put), bool(emitted)


def _emit(cloudwatch, namespace: str, dims: list[dict], report: dict) -> None:
    data = [{"MetricName": metrics.CANARY_HEALTH, "Value": 1.0 if report["healthy"] else 0.0}]
    if "trace_completeness" in report:
        data += [{"MetricName": metrics.TRACE_COMPLETENESS_RATIO, "Value": report["trace_completeness"]},
                 {"MetricName": metrics.TRACE_DATA_LOSS, "Value": float(report["traces_lost"])},
                 {"MetricName": metrics.TRACE_PARTIAL, "Value": float(report["traces_partial"])}]
    if "metric_roundtrip" in report:
        data.append({"MetricName": metrics.METRIC_ROUND_TRIP, "Value": 1.0 if report["metric_roundtrip"] else 0.0})
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{**d, "Dimensions": dims} for d in data])


def _publish(settings: Settings, report: dict) -> None:
    region = settings.out_of_band_topic_arn.split(":")[3]
    client("sns", region).publish(TopicArn=settings.out_of_band_topic_arn,
                                   Subject=f"[{settings.environment}] sentiment canary: pipeline failure"[:100],
                                   Message=json.dumps(report, default=str))


@lambda_handler
def handler(event: dict, context: Any) -> dict:
    # Re-read settings and clients on every run (FR-151): a warm canary must not keep stale state.
    reset_clients()
    return run(Settings.from_env())
