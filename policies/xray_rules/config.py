"""Config schemas shared by the rules, and reading a policy's effective config.

The engine applies schema defaults before ``Configure`` (the SDK does not), so a pack driven by
hand or an in-process test may hand a policy no config at all; ``effective_config`` fills the same
defaults from the same schema, so the rules behave identically either way.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from pulumi_policy import PolicyConfigSchema

from .values import plain

#: Every policy can exempt resources by glob patterns on the logical or the physical name.
EXEMPT = {
    "type": "array", "items": {"type": "string"}, "default": [],
    "description": "Glob patterns (fnmatch) on the resource's logical or physical name that this policy skips.",
}

#: D6: alarm class -> treat_missing_data.
DEFAULT_CLASS_MAP = {"absence": "breaching", "errors": "notBreaching", "latency": "missing",
                     "saturation": "missing", "cost": "notBreaching"}
MISSING_DATA_VALUES = ["breaching", "notBreaching", "ignore", "missing"]
CLASS_TAG = {"type": "string", "default": "alarm-class", "description": "Tag key that carries the alarm class (D6)."}

#: FR-017 / DESIGN §9: the five X-Ray actions a traced function's role needs.
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"]
#: AWS managed policies that grant them (matched by the ARN's policy path and name).
XRAY_MANAGED_POLICIES = {
    "AWSXRayDaemonWriteAccess": XRAY_ACTIONS,
    "AWSXrayWriteOnlyAccess": XRAY_ACTIONS,
    "AWSXrayFullAccess": ["xray:*"],
    "AWSLambdaTracerAccessExecutionRole": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
}


def schema(properties: Mapping[str, Any], required: Optional[list] = None) -> PolicyConfigSchema:
    props = {"exemptNames": EXEMPT, **properties}
    return PolicyConfigSchema(properties=dict(props), required=required)


def defaults(config_schema: Optional[PolicyConfigSchema]) -> dict:
    if config_schema is None:
        return {}
    return {k: v["default"] for k, v in (config_schema.properties or {}).items() if "default" in v}


def effective_config(args: Any, config_schema: Optional[PolicyConfigSchema]) -> dict:
    """Schema defaults overlaid with what the engine configured (numbers arrive as floats)."""
    cfg = defaults(config_schema)
    try:
        given = args.get_config()
    except Exception:  # noqa: BLE001 - an args object without config behaves as "no config"
        given = None
    if given:
        cfg.update(plain(given))
    return cfg
