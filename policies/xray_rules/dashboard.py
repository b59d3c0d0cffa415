"""The operations dashboard: its alarm widget lists every alarm of the stack (FR-044, SC-022)."""
from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationPolicy

from . import alarm_props as A
from .config import Config
from .define import Stack, stack_policy
from .resource_types import COMPOSITE_ALARM, METRIC_ALARM
from .stack_index import Node, StackIndex
from .values import UNKNOWN, as_list, matches_any, parse_json

#: How many missing alarm names a violation lists before "and N more".
_SHOWN = 10


def _alarms(index: StackIndex, cfg: Config) -> list[Node]:
    return [a for a in index.alarms if a.resource.resource_type in cfg["alarmTypes"]]


def _shown_alarm_names(body: Any) -> set[str]:
    names = set()
    widgets = as_list(body.get("widgets")) if isinstance(body, dict) else []
    for widget in [] if widgets is UNKNOWN else widgets:
        if not isinstance(widget, dict) or widget.get("type") != "alarm":
            continue
        props = widget.get("properties")
        arns = as_list(props.get("alarms")) if isinstance(props, dict) else []
        for arn in [] if arns is UNKNOWN else arns:
            if isinstance(arn, str):
                names.add(arn.split(":alarm:", 1)[1] if ":alarm:" in arn else arn)
    return names


def _name(alarm: Node) -> Any:
    """A metric alarm's ``name`` or a composite's ``alarmName``, ``UNKNOWN`` while unknown."""
    return A.alarm_name(alarm.props, alarm.logical)


def check_dashboard_alarms(stack: Stack, report: ReportViolation) -> None:
    cfg, alarms = stack.config, stack.subjects
    dashboards = [d for d in stack.index.dashboards
                  if matches_any(cfg["dashboardNames"], d.logical, d.props.get("dashboardName"))]
    if not alarms:
        return
    if not dashboards:
        report(f"The stack has {len(alarms)} alarms but no CloudWatch dashboard with an alarm widget. Add an "
               f"aws.cloudwatch.Dashboard whose body has a widget of type 'alarm' listing every alarm ARN (FR-044, "
               f"SC-022).", None)
        return
    shown: set[str] = set()
    shown_urns: set[str] = set()
    for dash in dashboards:
        body = parse_json(dash.props.get("dashboardBody"))
        if body is UNKNOWN:  # the alarms it was computed from are the ones it shows
            shown_urns |= {r.urn for r in dash.pdeps("dashboardBody")}
        else:
            shown |= _shown_alarm_names(body)
    missing = []
    for alarm in alarms:
        name = _name(alarm)
        if alarm.urn in shown_urns or (isinstance(name, str) and name in shown):
            continue
        if name is UNKNOWN:
            continue  # a name computed at deploy: judged by the run after the update, when it is known
        missing.append(name)
    if missing:
        names = ", ".join(str(n) for n in missing[:_SHOWN]) + (
            f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else "")
        report(f"Dashboard '{dashboards[0].logical}' does not show {len(missing)} of {len(alarms)} alarms: {names}. "
               f"Generate its alarm widget from the alarm resources so every alarm is listed (FR-044, SC-022).",
               dashboards[0].urn)


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy(
            name="dashboard-shows-all-alarms", level=EnforcementLevel.ADVISORY, subjects=_alarms,
            check=check_dashboard_alarms,
            config={
                "dashboardNames": {"type": "array", "items": {"type": "string"}, "default": ["*"],
                                   "description": "Glob patterns of the dashboards whose alarm widgets count."},
                "alarmTypes": {"type": "array", "items": {"type": "string"},
                               "default": [METRIC_ALARM, COMPOSITE_ALARM]},
            },
            describe=lambda d: "The operations dashboard's alarm widget must list every alarm."),
    ]
