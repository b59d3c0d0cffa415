"""Metrics: EventBridge every minute -> count stuck items (pending > 5 min) -> PutMetricData.

Before this project the function had no X-Ray code at all (SC-003). Now each service call is an
auto-patched subsegment (FR-003) inside an explicit subsegment for the query and one for
``put_metric_data`` (FR-004, US7), error-marked on failure. ``StuckItems`` and ``EmissionHeartbeat`` go in one
PutMetricData call (FR-126), so the heartbeat proves the real metric was emitted.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from common import annotate, lambda_handler, logger, put_metrics, require_env, table, tracer
from common.events import scheduled_event
from contract import env, metrics
from contract.data import ITEMS_BY_STATUS

STUCK_AFTER = timedelta(minutes=metrics.STUCK_AFTER_MINUTES)


class MetricsEmissionError(RuntimeError):
    """PutMetricData refused StuckItems: the invocation fails (Lambda Errors alarm) after the fallback line."""


def count_stuck(cfg: dict[str, str]) -> int:
    cutoff = (datetime.now(UTC) - STUCK_AFTER).isoformat()
    count, kwargs = 0, {"IndexName": ITEMS_BY_STATUS, "Select": "COUNT",
                        "KeyConditionExpression": Key("status").eq("pending") & Key("timestamp").lt(cutoff)}
    with tracer.provider.in_subsegment("query_stuck_items"):
        while True:
            resp = table(cfg[env.ITEMS_TABLE]).query(**kwargs)
            count += resp["Count"]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        annotate(stuck_items=count)
    return count


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    scheduled_event(event, "metrics")  # an SQS or SNS event, or any other, is an error, not a tick
    cfg = require_env(*env.REQUIRED["metrics"])
    try:
        stuck = count_stuck(cfg)
    except (BotoCoreError, ClientError):
        put_metrics(metrics.APP_NAMESPACE, {metrics.METRICS_LAMBDA_ERRORS: 1})
        raise
    with tracer.provider.in_subsegment("put_stuck_items_metric"):
        if not put_metrics(metrics.APP_NAMESPACE, {metrics.STUCK_ITEMS: stuck, metrics.EMISSION_HEARTBEAT: 1}):
            raise MetricsEmissionError("PutMetricData refused StuckItems/EmissionHeartbeat (fallback line logged)")
    logger.info("stuck items counted", extra={"stuck_items": stuck})
    return {"stuck_items": stuck}
