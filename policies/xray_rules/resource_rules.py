"""Resource policies: judged on one resource's inputs at a time (``Analyze``).

Each rule reads ``plain`` props, so no ``UnknownValueError`` ever escapes into an advisory "can't
run" diagnostic: where a value is unknown at preview the rule says so with ``not_applicable`` and the
post-update run (values known) judges it.
"""
from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from . import alarms as A
from .config import CLASS_TAG, DEFAULT_CLASS_MAP, MISSING_DATA_VALUES, effective_config, schema
from .values import UNKNOWN, as_list, describe, is_unknown, matches_any, plain

FUNCTION = "aws:lambda/function:Function"
XRAY_GROUP = "aws:xray/group:Group"
XRAY_RULE = "aws:xray/samplingRule:SamplingRule"


def _exempt(cfg: dict, args: Any, props: dict) -> bool:
    return matches_any(cfg.get("exemptNames") or [], args.name, props.get("name"))


# -- lambda-tracing-active ------------------------------------------------------------------------

TRACING_SCHEMA = schema({})


def _tracing_mode(props: dict) -> Any:
    config = props.get("tracingConfig")
    if config is UNKNOWN:
        return UNKNOWN
    return config.get("mode") if isinstance(config, dict) else None


def validate_tracing_active(args, report_violation) -> None:
    if args.resource_type != FUNCTION:
        return
    props = plain(args.props)
    cfg = effective_config(args, TRACING_SCHEMA)
    if _exempt(cfg, args, props):
        return
    mode = _tracing_mode(props)
    if mode is UNKNOWN:
        args.not_applicable("tracingConfig.mode is unknown during preview; it is checked again when known")
    if mode != "Active":
        report_violation(
            f"Lambda function '{args.name}' has tracingConfig.mode {describe(mode)}; set "
            f"tracing_config={{'mode': 'Active'}} so every invocation is traced in X-Ray (FR-013, DESIGN §5).")


def remediate_tracing_active(args) -> Any:
    """Set ``tracingConfig.mode = "Active"`` (only runs at level ``remediate``).

    Remediate props are a secrets-preserving proxy (no unknown checking): unknowns show up as raw
    sentinels, so a mode we cannot read is left alone rather than overwritten blindly."""
    if args.resource_type != FUNCTION:
        return None
    props = args.props
    cfg = effective_config(args, TRACING_SCHEMA)
    if _exempt(cfg, args, {"name": plain(props).get("name")}):
        return None
    current = plain(props).get("tracingConfig")
    mode = current.get("mode") if isinstance(current, dict) else (UNKNOWN if current is UNKNOWN else None)
    if mode == "Active" or is_unknown(mode):
        return None
    new_tracing = dict(current) if isinstance(current, dict) else {}
    new_tracing["mode"] = "Active"
    props["tracingConfig"] = new_tracing  # __setitem__ keeps a secret a secret
    return props


# -- absence-alarm-breaching ----------------------------------------------------------------------

ABSENCE_SCHEMA = schema({
    "classTag": CLASS_TAG,
    "absenceClass": {"type": "string", "default": "absence"},
    "shapeComparisons": {"type": "array", "items": {"type": "string"}, "default": A.ABSENCE_COMPARISONS,
                         "description": "Comparisons that make an untagged alarm absence-shaped (a floor)."},
    "shapeStatistics": {"type": "array", "items": {"type": "string"}, "default": A.ABSENCE_STATISTICS,
                        "description": "Statistics that make an untagged floor alarm absence-shaped (counts)."},
})


def validate_absence_breaching(args, report_violation) -> None:
    if args.resource_type != A.METRIC_ALARM:
        return
    props = plain(args.props)
    cfg = effective_config(args, ABSENCE_SCHEMA)
    if _exempt(cfg, args, props):
        return
    klass = A.tag(props, cfg["classTag"])
    if klass is UNKNOWN:
        args.not_applicable(f"tag {cfg['classTag']} is unknown during preview")
    if klass is not None:
        if klass != cfg["absenceClass"]:
            return  # a tagged alarm of another class is judged by alarm-missing-data-class
        why = f"it is tagged {cfg['classTag']}={klass}"
    else:
        shape = A.absence_shaped(props, cfg["shapeComparisons"], cfg["shapeStatistics"])
        if not shape:
            return
        why = f"it has the shape of an absence alarm ({shape}) and no {cfg['classTag']} tag"
    treat = props.get("treatMissingData")
    if treat is UNKNOWN:
        args.not_applicable("treatMissingData is unknown during preview")
    if treat != "breaching":
        report_violation(
            f"Alarm '{A.alarm_name(props, args.name)}' is an absence alarm ({why}) but treatMissingData is "
            f"{describe(treat)} (AWS default 'missing'): silence is the failure it exists to catch. Set "
            f"treat_missing_data='breaching' (DESIGN D6, FR-020, FR-045).")


# -- alarm-missing-data-class ---------------------------------------------------------------------

MISSING_DATA_SCHEMA = schema({
    "classTag": CLASS_TAG,
    "classes": {"type": "object", "additionalProperties": {"type": "string", "enum": MISSING_DATA_VALUES},
                "default": DEFAULT_CLASS_MAP,
                "description": "Alarm class -> required treatMissingData (DESIGN D6)."},
    "requireClassTag": {"type": "boolean", "default": False,
                        "description": "Also report alarms that carry no class tag."},
})


def validate_missing_data_class(args, report_violation) -> None:
    if args.resource_type != A.METRIC_ALARM:
        return
    props = plain(args.props)
    cfg = effective_config(args, MISSING_DATA_SCHEMA)
    if _exempt(cfg, args, props):
        return
    name = A.alarm_name(props, args.name)
    klass = A.tag(props, cfg["classTag"])
    classes = cfg.get("classes") or {}
    if klass is UNKNOWN:
        args.not_applicable(f"tag {cfg['classTag']} is unknown during preview")
    if klass is None:
        if cfg.get("requireClassTag"):
            report_violation(f"Alarm '{name}' has no '{cfg['classTag']}' tag: tag it with one of "
                             f"{sorted(classes)} so its treat_missing_data intent can be checked (D6).")
        return
    if klass not in classes:
        report_violation(f"Alarm '{name}' has {cfg['classTag']}={klass!r}, which is not a known class; use one "
                         f"of {sorted(classes)} (D6).")
        return
    treat = props.get("treatMissingData")
    if treat is UNKNOWN:
        args.not_applicable("treatMissingData is unknown during preview")
    expected = classes[klass]
    if (treat or "missing") != expected:
        report_violation(f"Alarm '{name}' is class '{klass}' but treatMissingData is {describe(treat)}; set "
                         f"treat_missing_data='{expected}' (DESIGN D6 maps {klass} -> {expected}).")


# -- alarm-has-actions ----------------------------------------------------------------------------

ACTIONS_SCHEMA = schema({
    "requireOkActions": {"type": "boolean", "default": False,
                         "description": "Also require ok_actions (D8 wires both to the alarm topic)."},
})


def validate_alarm_actions(args, report_violation) -> None:
    if args.resource_type not in (A.METRIC_ALARM, A.COMPOSITE_ALARM):
        return
    props = plain(args.props)
    cfg = effective_config(args, ACTIONS_SCHEMA)
    if _exempt(cfg, args, props):
        return
    name = A.alarm_name(props, args.name)
    problems = []
    enabled = props.get("actionsEnabled")
    if enabled is False:
        problems.append("actions_enabled is False")
    wanted = [("alarmActions", "alarm_actions")]
    if cfg.get("requireOkActions"):
        wanted.append(("okActions", "ok_actions"))
    for key, py in wanted:
        actions = as_list(props.get(key))
        if actions is UNKNOWN:
            continue  # a list computed from unknowns: judged when known
        if not actions:  # an element that is unknown (a topic ARN in preview) still counts as an action
            problems.append(f"{py} is empty")
    if problems:
        report_violation(f"Alarm '{name}': {', '.join(problems)}. Set actions_enabled=True and send "
                         f"alarm_actions (and ok_actions) to the alarm SNS topic, or nobody is told (D8).")


# -- xray-name-limits -----------------------------------------------------------------------------

NAMES_SCHEMA = schema({"maxLength": {"type": "integer", "minimum": 1, "default": 32,
                                     "description": "X-Ray group and sampling-rule name limit."}})


def validate_xray_names(args, report_violation) -> None:
    keys = {XRAY_GROUP: ("groupName", "group_name"), XRAY_RULE: ("ruleName", "rule_name")}
    if args.resource_type not in keys:
        return
    props = plain(args.props)
    cfg = effective_config(args, NAMES_SCHEMA)
    if _exempt(cfg, args, props):
        return
    key, py = keys[args.resource_type]
    value = props.get(key)
    if value is UNKNOWN:
        args.not_applicable(f"{key} is unknown during preview")
    limit = int(cfg["maxLength"])
    if isinstance(value, str) and len(value) > limit:
        report_violation(f"X-Ray {'group' if args.resource_type == XRAY_GROUP else 'sampling rule'} '{args.name}': "
                         f"{py} {value!r} has {len(value)} characters; X-Ray allows at most {limit}. Shorten it.")


def resource_policies() -> list[ResourceValidationPolicy]:
    return [
        ResourceValidationPolicy(
            name="lambda-tracing-active", enforcement_level=EnforcementLevel.MANDATORY,
            description="Every Lambda function must use X-Ray Active tracing.",
            validate=validate_tracing_active, remediate=remediate_tracing_active, config_schema=TRACING_SCHEMA),
        ResourceValidationPolicy(
            name="absence-alarm-breaching", enforcement_level=EnforcementLevel.MANDATORY,
            description="An absence alarm (heartbeat, canary, throughput floor) must treat missing data as breaching.",
            validate=validate_absence_breaching, config_schema=ABSENCE_SCHEMA),
        ResourceValidationPolicy(
            name="alarm-missing-data-class", enforcement_level=EnforcementLevel.ADVISORY,
            description="An alarm's treat_missing_data must match its alarm class.",
            validate=validate_missing_data_class, config_schema=MISSING_DATA_SCHEMA),
        ResourceValidationPolicy(
            name="alarm-has-actions", enforcement_level=EnforcementLevel.MANDATORY,
            description="Every alarm must have actions enabled and at least one alarm action.",
            validate=validate_alarm_actions, config_schema=ACTIONS_SCHEMA),
        ResourceValidationPolicy(
            name="xray-name-limits", enforcement_level=EnforcementLevel.MANDATORY,
            description="X-Ray group and sampling-rule names must be at most 32 characters.",
            validate=validate_xray_names, config_schema=NAMES_SCHEMA),
    ]
