"""Tracing itself: every function traced actively, every REST API stage and state machine sending traces,
X-Ray names within X-Ray's limit."""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, cast

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationPolicy

from contract import xray

from .define import Resource, resource_policy
from .resource_types import FUNCTION, REST_STAGE, STATE_MACHINE, XRAY_GROUP, XRAY_RULE
from .stack_index import ACTIVE
from .values import UNKNOWN, describe, dig, is_unknown

# -- lambda-tracing-active ------------------------------------------------------------------------

def _tracing_mode(props: dict) -> Any:
    config = props.get("tracingConfig")
    if config is UNKNOWN:
        return UNKNOWN
    return config.get("mode") if isinstance(config, dict) else None


def check_tracing_active(fn: Resource, report: ReportViolation) -> None:
    mode = fn.known(_tracing_mode(fn.props), "tracingConfig.mode")
    if mode != ACTIVE:
        report(f"Lambda function '{fn.name}' has tracingConfig.mode {describe(mode)}; set "
               f"tracing_config={{'mode': '{ACTIVE}'}} so every invocation is traced in X-Ray (FR-013).", None)


def remediate_tracing_active(fn: Resource) -> Mapping[str, Any] | None:
    """Set ``tracingConfig.mode = "Active"`` (only runs at level ``remediate``).

    Remediate props are a secrets-preserving proxy (no unknown checking): unknowns show up as raw
    sentinels, so a mode we cannot read is left alone rather than overwritten blindly."""
    current = fn.props.get("tracingConfig")
    mode = _tracing_mode(fn.props)
    if mode == ACTIVE or is_unknown(mode):
        return None
    props = cast(MutableMapping[str, Any], fn.args.props)
    props["tracingConfig"] = {**(current if isinstance(current, dict) else {}), "mode": ACTIVE}  # a secret stays one
    return props


# -- apigateway-stage-tracing --------------------------------------------------------------------

def check_stage_tracing(stage: Resource, report: ReportViolation) -> None:
    enabled = stage.known(stage.props.get("xrayTracingEnabled"), "xrayTracingEnabled")
    if enabled is not True:
        report(f"API Gateway stage '{stage.name}' has xrayTracingEnabled {describe(enabled)} (API Gateway's default "
               f"is off): a request without an upstream trace starts none there, its sampling rules never apply and "
               f"the API is missing from the trace map. Set xray_tracing_enabled=True on the aws.apigateway.Stage.",
               None)


# -- stepfunctions-tracing-enabled ----------------------------------------------------------------

def check_state_machine_tracing(machine: Resource, report: ReportViolation) -> None:
    enabled = machine.known(dig(machine.props, "tracingConfiguration", "enabled"), "tracingConfiguration.enabled")
    if enabled is not True:
        report(f"Step Functions state machine '{machine.name}' has tracingConfiguration.enabled {describe(enabled)}: "
               f"executions started without an upstream trace send nothing to X-Ray. Set "
               f"tracing_configuration={{'enabled': True}} and allow its role the X-Ray write actions.", None)


# -- xray-name-limits -----------------------------------------------------------------------------

#: The name property of each X-Ray resource with a name limit, as Pulumi spells it in props and in Python.
_NAME_KEYS = {XRAY_GROUP: ("groupName", "group_name", "group"), XRAY_RULE: ("ruleName", "rule_name", "sampling rule")}


def check_xray_names(resource: Resource, report: ReportViolation) -> None:
    key, py, kind = _NAME_KEYS[resource.type]
    value = resource.known(resource.props.get(key), key)
    limit = int(resource.config["maxLength"])
    if isinstance(value, str) and len(value) > limit:
        report(f"X-Ray {kind} '{resource.name}': {py} {value!r} has {len(value)} characters; X-Ray allows at most "
               f"{limit}. Shorten it.", None)


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy(
            name="lambda-tracing-active", level=EnforcementLevel.MANDATORY, types=[FUNCTION], config={},
            describe=lambda d: f"Every Lambda function must use X-Ray {ACTIVE} tracing.",
            check=check_tracing_active, remediate=remediate_tracing_active),
        resource_policy(
            name="apigateway-stage-tracing", level=EnforcementLevel.MANDATORY, types=[REST_STAGE], config={},
            describe=lambda d: "Every API Gateway REST API stage must have X-Ray tracing enabled.",
            check=check_stage_tracing),
        resource_policy(
            name="stepfunctions-tracing-enabled", level=EnforcementLevel.MANDATORY, types=[STATE_MACHINE], config={},
            describe=lambda d: "Every Step Functions state machine must have X-Ray tracing enabled.",
            check=check_state_machine_tracing),
        resource_policy(
            name="xray-name-limits", level=EnforcementLevel.MANDATORY, types=list(_NAME_KEYS),
            config={"maxLength": {"type": "integer", "minimum": 1, "default": xray.MAX_NAME_LENGTH,
                                  "description": "X-Ray group and sampling-rule name limit."}},
            describe=lambda d: f"X-Ray group and sampling-rule names must be at most {d['maxLength']} characters.",
            check=check_xray_names),
    ]
