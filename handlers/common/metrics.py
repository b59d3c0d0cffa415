"""CloudWatch metrics through PutMetricData, and the silent-failure recorder of D5.

Metrics are counted for 100% of invocations, whatever the trace sampling (FR-039, FR-043). When
PutMetricData itself fails, each metric of the call becomes one JSON log line with
``contract.metrics.METRIC_FALLBACK_FIELD`` set to true, for the metric filter the program puts on the
function's log group; so a refused datum still leaves a countable trace instead of vanishing.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Optional, cast

from aws_xray_sdk.core.models.subsegment import Subsegment
from botocore.exceptions import BotoCoreError, ClientError

from contract import env
from contract.data import FAILURE_PATHS
from contract.metrics import (
    ENVIRONMENT_DIMENSION,
    FAILURE_PATH_DIMENSION,
    FALLBACK_MESSAGE_LIMIT,
    FUNCTION_DIMENSION,
    METRIC_FALLBACK_FIELD,
    SILENT_FAILURE_METRIC,
    SILENT_FAILURE_NAMESPACE,
)

from .aws import client
from .config import function_name, require_env
from .tracing import (
    LOG_MESSAGE_LIMIT,
    NEVER_SWALLOWED,
    InstrumentationError,
    annotate,
    bounded_message,
    bounded_stack,
    logger,
    tracer,
)


def _fallback(metric_name: str, exc: BaseException, failure_path: Optional[str]) -> None:
    logger.error("metric emission failed", extra={
        METRIC_FALLBACK_FIELD: True, "failure_path": failure_path, "metric_name": metric_name,
        "exception_type": type(exc).__name__, "exception_message": bounded_message(exc, FALLBACK_MESSAGE_LIMIT),
        "timestamp": datetime.now(UTC).isoformat()})


def put_metrics(namespace: str, values: dict[str, float], *, dimensions: Optional[dict[str, str]] = None,
                unit: str = "Count", failure_path: Optional[str] = None) -> bool:
    """One PutMetricData call for ``values``; False (after the fallback lines) when CloudWatch refused it.

    ``dimensions`` defaults to ``Environment=<ENVIRONMENT>``, the dimension of every application metric.
    Only AWS errors are turned into the fallback; anything else is a bug and propagates (FR-018).
    """
    if dimensions is None:
        dimensions = {ENVIRONMENT_DIMENSION: require_env(env.ENVIRONMENT)[env.ENVIRONMENT]}
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
    data = [{"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": unit}
            for name, value in values.items()]
    try:
        client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=data)
    except (BotoCoreError, ClientError) as exc:
        for name in values:
            _fallback(name, exc, failure_path)
        return False
    return True


@dataclass
class Outcome:
    """What a guarded block did: ``failed`` and the exception, for the caller's fallback logic."""

    path: str
    error: Optional[Exception] = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@contextmanager
def silent_failure(path: str, **annotations: Any) -> Iterator[Outcome]:
    """Guard one of the 7 silent-failure paths (D5, FR-002, SC-004, SC-019).

    The block runs inside a subsegment named ``path``. If it raises, the subsegment is error-marked with the
    exception (bounded), ``SilentFailure{FunctionName, FailurePath}`` is put (or the fallback line logged),
    a warning is logged, and the business flow goes on: ``outcome.failed`` tells the caller. Errors of the
    instrumentation itself (``InstrumentationError``) and of the deployment (``MissingEnvironmentError``, e.g. a
    missing ``AWS_LAMBDA_FUNCTION_NAME`` or ``ENVIRONMENT``), raised before or inside the block, propagate (FR-018).
    """
    if path not in FAILURE_PATHS:
        raise InstrumentationError(f"unknown failure path {path!r}; D5 allows {', '.join(FAILURE_PATHS)}")
    dims = {FUNCTION_DIMENSION: function_name(), FAILURE_PATH_DIMENSION: path}
    outcome = Outcome(path)
    with tracer.provider.in_subsegment(path) as entered:
        sub = cast(Subsegment, entered)  # the recorder's subsegment; Powertools' BaseSegment omits add_error_flag
        annotate(**annotations)
        try:
            yield outcome
        except NEVER_SWALLOWED:
            raise
        except Exception as exc:  # the business failure this path exists to make visible
            outcome.error = exc
            sub.add_error_flag()
            if hasattr(exc, "_recorded"):  # already on the failing AWS call's subsegment: record it here in full too,
                delattr(exc, "_recorded")  # so the path's own subsegment names the exception (SC-002)
            sub.add_exception(exc, bounded_stack(exc))
            annotate(failure_path=path)
            logger.warning("silent failure", extra={"failure_path": path, "exception_type": type(exc).__name__,
                                                    "exception_message": bounded_message(exc, LOG_MESSAGE_LIMIT)})
            put_metrics(SILENT_FAILURE_NAMESPACE, {SILENT_FAILURE_METRIC: 1}, dimensions=dims, failure_path=path)
