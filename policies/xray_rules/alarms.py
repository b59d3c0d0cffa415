"""Alarms: every function watched for errors and latency, and every alarm's silence and actions meaning
what its class says (D6, D7, D8 in docs/decisions.md)."""
from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Policy, ReportViolation

from contract import alarms as contract_alarms
from contract import metrics
from contract.alarms import AlarmClass

from . import alarm_props as A
from .config import Config, json_list
from .define import Resource, Stack, resource_policy, stack_policy
from .resource_types import COMPOSITE_ALARM, METRIC_ALARM
from .stack_index import Node, StackIndex
from .values import UNKNOWN, as_list, as_number, describe

#: Lambda's own metrics: its errors, and its duration (ms).
LAMBDA_NAMESPACE = "AWS/Lambda"
LAMBDA_ERRORS = "Errors"
LAMBDA_DURATION = "Duration"
#: Lambda's timeout when a function does not set one (seconds).
LAMBDA_DEFAULT_TIMEOUT_S = 3.0
#: What CloudWatch does with missing data when an alarm does not say.
CLOUDWATCH_DEFAULT_TREATMENT = "missing"

#: A latency alarm fires when latency is high: a ceiling. A floor (LessThan*) on Duration watches something else.
CEILINGS = ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold")

CLASS_TAG = {"type": "string", "default": contract_alarms.CLASS_TAG,
             "description": "Tag key that carries the alarm class (D6)."}
ABSENCE_TREATMENT = contract_alarms.TREAT_MISSING_DATA[AlarmClass.ABSENCE]


def _functions(index: StackIndex, cfg: Config) -> list[Node]:
    return index.functions


def _metric_alarms(index: StackIndex, cfg: Config) -> list[Node]:
    return [a for a in index.alarms if a.resource.resource_type == METRIC_ALARM]


def _ceiling(alarm: Node) -> bool:
    """Whether the alarm fires on high values (an unknown comparison may)."""
    comparison = alarm.props.get("comparisonOperator")
    return comparison is UNKNOWN or comparison in CEILINGS


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g}"


# -- lambda-error-alarm ---------------------------------------------------------------------------

def check_error_alarm(stack: Stack, report: ReportViolation) -> None:
    cfg = stack.config

    def is_errors(m: A.Metric) -> bool:
        # An unknown namespace/name in a metric query could be anything: it links only through
        # property dependencies, which is what "unknown" deserves.
        return (m.namespace in (cfg["namespace"], UNKNOWN)) and (m.name in (cfg["metricName"], UNKNOWN))

    linked, orphans = stack.index.alarms_by_function(is_errors)
    unlinked_unknown = [a for a in orphans if any(is_errors(m) and m.dimension(metrics.FUNCTION_DIMENSION) is UNKNOWN
                                                  for m in A.metrics(a.props))]
    for fn in stack.subjects:
        if any(m.name == cfg["metricName"] for _, m in linked.get(fn.urn, [])):
            continue
        if any(m.name is UNKNOWN for _, m in linked.get(fn.urn, [])):
            continue  # a metric query that depends on this function but is unknown until the update
        if fn.physical is UNKNOWN and unlinked_unknown:
            continue  # both sides unknown and not related by dependencies: judged after the update
        report(f"Lambda function '{fn.label()}' has no CloudWatch alarm on {cfg['namespace']} {cfg['metricName']} "
               f"with dimension {metrics.FUNCTION_DIMENSION}="
               f"{describe(fn.physical) if fn.physical is not UNKNOWN else fn.logical}. Add a MetricAlarm (plain "
               f"metric or a metric_queries entry) whose dimensions.{metrics.FUNCTION_DIMENSION} is this function's "
               f"name, e.g. built from function.name (FR-040, SC-017).", fn.urn)


# -- lambda-latency-alarm -------------------------------------------------------------------------

def _timeout_seconds(fn: Node) -> Any:
    value = as_number(fn.props.get("timeout"))
    return LAMBDA_DEFAULT_TIMEOUT_S if value is None else value


def check_latency_alarm(stack: Stack, report: ReportViolation) -> None:
    cfg, index = stack.config, stack.index
    durations, _ = index.alarms_by_function(
        lambda m: m.namespace == LAMBDA_NAMESPACE and m.name == LAMBDA_DURATION and m.is_percentile)
    stream_metrics = set(cfg["streamingLatencyMetrics"])
    stream_alarms, _ = index.alarms_by_function(lambda m: m.name in stream_metrics and m.is_percentile)
    durations = {urn: [(a, m) for a, m in found if _ceiling(a)] for urn, found in durations.items()}
    stream_alarms = {urn: [(a, m) for a, m in found if _ceiling(a)] for urn, found in stream_alarms.items()}
    low, high = float(cfg["minFraction"]), float(cfg["maxFraction"])
    suggested = contract_alarms.DEFAULT_LATENCY_FRACTION
    for fn in stack.subjects:
        if fn.urn in index.streaming:
            if not stream_alarms.get(fn.urn):
                example = "".join(f", e.g. {m} p95 at its SLO" for m in cfg["streamingLatencyMetrics"][:1])
                report(f"Streaming function '{fn.label()}' (behind a RESPONSE_STREAM Function URL) has no latency "
                       f"alarm: its Duration is the stream length, so alarm a percentile of one of "
                       f"{sorted(stream_metrics)} with dimensions.{metrics.FUNCTION_DIMENSION} = its name{example} "
                       f"(D7, FR-042).", fn.urn)
            continue
        timeout = _timeout_seconds(fn)
        found = durations.get(fn.urn, [])
        if not found:
            band = "" if timeout is UNKNOWN else (f" (here {low * timeout * 1000:,.0f}-{high * timeout * 1000:,.0f} ms "
                                                 f"for its {timeout:g} s timeout)")
            report(f"Lambda function '{fn.label()}' has no {LAMBDA_NAMESPACE} {LAMBDA_DURATION} percentile alarm (e.g. "
                   f"extended_statistic='p95'). Add one at {low:.0%}-{high:.0%} of the timeout{band} (D7, FR-041).",
                   fn.urn)
            continue
        if timeout is UNKNOWN:
            continue
        thresholds = [as_number(alarm.props.get("threshold")) for alarm, _ in found]
        if any(t is UNKNOWN or (t is not None and low * timeout * 1000 <= t <= high * timeout * 1000)
               for t in thresholds):
            continue
        alarm = found[0][0]
        shown = ", ".join(describe(t) for t in thresholds)
        report(f"Duration alarm '{A.alarm_label(alarm.props, alarm.logical)}' of function '{fn.label()}' has threshold "
               f"{shown} ms, outside {low:.0%}-{high:.0%} of the {timeout:g} s timeout "
               f"({low * timeout * 1000:,.0f}-{high * timeout * 1000:,.0f} ms). Derive it from the timeout "
               f"({suggested:.0%} = {suggested * timeout * 1000:,.0f} ms) instead of typing it (D7, FR-061).",
               alarm.urn)


# -- absence-alarm-breaching ----------------------------------------------------------------------

def _absence_reason(alarm: Node, cfg: Config, log_filter_metrics: set) -> str | None:
    """Why this alarm is an absence alarm (its tag, or untagged its shape); None if it is not or not known yet."""
    props = alarm.props
    klass = A.tag(props, cfg["classTag"])
    if klass is UNKNOWN:
        return None  # judged when the tags are known
    if klass is not None:  # a tagged alarm of another class is judged by alarm-missing-data-class
        return f"it is tagged {cfg['classTag']}={klass}" if klass == cfg["absenceClass"] else None
    shape = A.absence_shaped(props, comparisons=cfg["shapeComparisons"], statistics=cfg["shapeStatistics"],
                             log_filter_metrics=log_filter_metrics)
    return f"it has the shape of an absence alarm ({shape}) and no {cfg['classTag']} tag" if shape else None


def check_absence_breaching(stack: Stack, report: ReportViolation) -> None:
    cfg = stack.config
    for alarm in stack.subjects:
        why = _absence_reason(alarm, cfg, stack.index.filter_metrics)
        treat = alarm.props.get("treatMissingData")
        if why is None or treat is UNKNOWN or treat == ABSENCE_TREATMENT:
            continue
        report(f"Alarm '{A.alarm_label(alarm.props, alarm.logical)}' is an absence alarm ({why}) but treatMissingData "
               f"is {describe(treat)} (AWS default '{CLOUDWATCH_DEFAULT_TREATMENT}'): silence is the failure it "
               f"exists to catch. Set treat_missing_data='{ABSENCE_TREATMENT}' (D6, FR-020, FR-045).", alarm.urn)


# -- alarm-missing-data-class ---------------------------------------------------------------------

def check_missing_data_class(alarm: Resource, report: ReportViolation) -> None:
    cfg, props = alarm.config, alarm.props
    name = A.alarm_label(props, alarm.name)
    classes = cfg.get("classes") or {}
    klass = alarm.known(A.tag(props, cfg["classTag"]), f"tag {cfg['classTag']}")
    if klass is None:
        if cfg.get("requireClassTag"):
            report(f"Alarm '{name}' has no '{cfg['classTag']}' tag: tag it with one of {sorted(classes)} so its "
                   f"treat_missing_data intent can be checked (D6).", None)
        return
    if klass not in classes:
        report(f"Alarm '{name}' has {cfg['classTag']}={klass!r}, which is not a known class; use one of "
               f"{sorted(classes)} (D6).", None)
        return
    treat = alarm.known(props.get("treatMissingData"), "treatMissingData")
    expected = classes[klass]
    if (treat or CLOUDWATCH_DEFAULT_TREATMENT) != expected:
        report(f"Alarm '{name}' is class '{klass}' but treatMissingData is {describe(treat)}; set "
               f"treat_missing_data='{expected}' (D6 in docs/decisions.md maps {klass} -> {expected}).", None)


# -- alarm-has-actions ----------------------------------------------------------------------------

def check_alarm_actions(alarm: Resource, report: ReportViolation) -> None:
    props = alarm.props
    problems = []
    if props.get("actionsEnabled") is False:
        problems.append("actions_enabled is False")
    wanted = [("alarmActions", "alarm_actions")]
    if alarm.config.get("requireOkActions"):
        wanted.append(("okActions", "ok_actions"))
    for key, py in wanted:
        actions = as_list(props.get(key))
        if actions is UNKNOWN:
            continue  # a list computed from unknowns: judged when known
        if not actions:  # an element that is unknown (a topic ARN in preview) still counts as an action
            problems.append(f"{py} is empty")
    if problems:
        report(f"Alarm '{A.alarm_label(props, alarm.name)}': {', '.join(problems)}. Set actions_enabled=True and send "
               f"alarm_actions (and ok_actions) to the alarm SNS topic, or nobody is told (D8).", None)


def policies() -> list[Policy]:
    M, ADV = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY
    return [
        stack_policy(
            name="lambda-error-alarm", level=M, subjects=_functions, check=check_error_alarm,
            config={"namespace": {"type": "string", "default": LAMBDA_NAMESPACE},
                    "metricName": {"type": "string", "default": LAMBDA_ERRORS}},
            describe=lambda d: f"Every Lambda function must have an {d['namespace']} {d['metricName']} alarm."),
        stack_policy(
            name="lambda-latency-alarm", level=M, subjects=_functions, check=check_latency_alarm,
            config={
                "minFraction": {"type": "number", "minimum": 0, "maximum": 1,
                                "default": contract_alarms.LATENCY_BAND[0],
                                "description": "Lowest allowed p-Duration threshold as a fraction of the timeout "
                                               "(FR-061)."},
                "maxFraction": {"type": "number", "minimum": 0, "maximum": 1,
                                "default": contract_alarms.LATENCY_BAND[1],
                                "description": "Highest allowed p-Duration threshold as a fraction of the timeout "
                                               "(FR-061)."},
                "streamingLatencyMetrics": {
                    "type": "array", "items": {"type": "string"},
                    "default": json_list((metrics.EVENT_LATENCY_MS, metrics.CONNECTION_SETUP_MS)),
                    "description": "Percentile metrics that count as a streaming function's latency alarm (D7)."},
            },
            describe=lambda d: (f"Every Lambda function must have a percentile {LAMBDA_DURATION} alarm at "
                                f"{_percent(d['minFraction'])}–{_percent(d['maxFraction'])}% of its timeout "
                                f"(a streaming function: a percentile of "
                                f"{' or '.join(d['streamingLatencyMetrics'])}).")),
        stack_policy(
            name="absence-alarm-breaching", level=M, subjects=_metric_alarms, check=check_absence_breaching,
            config={
                "classTag": CLASS_TAG,
                "absenceClass": {"type": "string", "default": AlarmClass.ABSENCE.value},
                "shapeComparisons": {"type": "array", "items": {"type": "string"},
                                     "default": json_list(contract_alarms.ABSENCE_COMPARISONS),
                                     "description": "Comparisons that make an untagged alarm absence-shaped (a "
                                                    "floor)."},
                "shapeStatistics": {"type": "array", "items": {"type": "string"},
                                    "default": json_list(contract_alarms.ABSENCE_STATISTICS),
                                    "description": "Statistics that make an untagged floor alarm absence-shaped "
                                                   "(counts; a metric published by a log metric filter of the "
                                                   "stack never is, D6)."},
            },
            describe=lambda d: (f"An absence alarm (heartbeat, canary, throughput floor) must treat missing data as "
                                f"{ABSENCE_TREATMENT}.")),
        resource_policy(
            name="alarm-missing-data-class", level=ADV, types=[METRIC_ALARM], check=check_missing_data_class,
            config={
                "classTag": CLASS_TAG,
                "classes": {"type": "object",
                            "additionalProperties": {"type": "string",
                                                     "enum": json_list(contract_alarms.MISSING_DATA_VALUES)},
                            "default": contract_alarms.class_map(),
                            "description": "Alarm class -> required treatMissingData (D6)."},
                "requireClassTag": {"type": "boolean", "default": False,
                                    "description": "Also report alarms that carry no class tag."},
            },
            describe=lambda d: f"An alarm's treat_missing_data must match its alarm class (tag {d['classTag']})."),
        resource_policy(
            name="alarm-has-actions", level=M, types=[METRIC_ALARM, COMPOSITE_ALARM], check=check_alarm_actions,
            config={"requireOkActions": {"type": "boolean", "default": True,
                                         "description": "Also require ok_actions (D8 wires both to the alarm "
                                                        "topic: the OK closes the incident)."}},
            describe=lambda d: ("Every alarm must have actions enabled and at least one alarm action"
                                + (" and one OK action." if d["requireOkActions"] else "."))),
    ]
