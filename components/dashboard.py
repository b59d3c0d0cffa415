"""``OperationsDashboard``: every alarm of the stack on one screen (FR-044, SC-022, FR-129).

The alarm widgets are generated from the alarm resources themselves, so an alarm added anywhere in the
program appears here without anyone editing a list. Alarm ARNs are built from the alarm names (known at
preview), so the body, and the policy that checks it, can be read before anything exists.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from contract import metrics as m
from contract.alarms import SEVERITIES

TYPE = "sentiment:observability:OperationsDashboard"
ALARMS_PER_WIDGET = 100  # CloudWatch's limit for one alarm-status widget


@dataclass
class MonitoredAlarm:
    name: pulumi.Input[str]
    severity: str
    resource: pulumi.Resource


@dataclass
class OperationsDashboardArgs:
    dashboard_name: str
    region: pulumi.Input[str]
    account_id: pulumi.Input[str]
    alarms: Sequence[MonitoredAlarm]
    buffered_functions: Sequence[pulumi.Input[str]] = ()
    streaming_functions: Sequence[pulumi.Input[str]] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.alarms:
            raise ValueError("OperationsDashboard needs the stack's alarms to show (FR-044)")


def _alarm_widgets(title: str, arns: list[str], y: int) -> list[dict]:
    widgets = []
    for i in range(0, len(arns), ALARMS_PER_WIDGET):
        part = arns[i:i + ALARMS_PER_WIDGET]
        suffix = f" ({i // ALARMS_PER_WIDGET + 1})" if len(arns) > ALARMS_PER_WIDGET else ""
        widgets.append({"type": "alarm", "x": 0, "y": y + 6 * (i // ALARMS_PER_WIDGET), "width": 24, "height": 6,
                        "properties": {"title": f"{title}{suffix}", "alarms": part, "sortBy": "stateUpdatedTimestamp"}})
    return widgets


def _metric_widget(title: str, metrics: list, region: str, x: int, y: int, stat: str) -> dict:
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {"title": title, "region": region, "stat": stat, "period": 60, "view": "timeSeries",
                           "metrics": metrics}}


def render_body(region: str, account: str, alarms: list[tuple[str, str]], buffered: list[str],
                streaming: list[str]) -> str:
    arn = lambda n: f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}"  # noqa: E731
    widgets = _alarm_widgets("All alarms", [arn(n) for n, _ in alarms], 0)
    y = 6 * len(widgets)
    for severity in SEVERITIES:
        tier = [arn(n) for n, s in alarms if s == severity]
        if tier:
            part = _alarm_widgets(f"{severity} alarms", tier, y)
            widgets += part
            y += 6 * len(part)
    if buffered:
        widgets.append(_metric_widget("Lambda errors",
                                      [["AWS/Lambda", "Errors", "FunctionName", f] for f in buffered + streaming],
                                      region, 0, y, "Sum"))
        widgets.append(_metric_widget("Lambda p95 duration (ms)",
                                      [["AWS/Lambda", "Duration", "FunctionName", f] for f in buffered],
                                      region, 12, y, "p95"))
        y += 6
    if streaming:
        widgets.append(_metric_widget("SSE event latency p95 (ms)",
                                      [[m.SSE_NAMESPACE, m.EVENT_LATENCY_MS, m.FUNCTION_DIMENSION, f]
                                                                     for f in streaming], region, 0, y, "p95"))
        widgets.append(_metric_widget("SSE connections", [[m.SSE_NAMESPACE, m.CONNECTION_COUNT, m.FUNCTION_DIMENSION, f]
                                                          for f in streaming], region, 12, y, "Maximum"))
    return json.dumps({"widgets": widgets})


class OperationsDashboard(pulumi.ComponentResource):
    def __init__(self, name: str, args: OperationsDashboardArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        n_alarms, n_buf = len(args.alarms), len(args.buffered_functions)
        body = pulumi.Output.all(args.region, args.account_id, *[a.name for a in args.alarms],
                                 *args.buffered_functions, *args.streaming_functions).apply(
            lambda v: render_body(v[0], v[1], list(zip(v[2:2 + n_alarms], [a.severity for a in args.alarms], strict=True)),
                                  list(v[2 + n_alarms:2 + n_alarms + n_buf]), list(v[2 + n_alarms + n_buf:])))
        self.dashboard = aws.cloudwatch.Dashboard(
            name, dashboard_name=args.dashboard_name, dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[a.resource for a in args.alarms]))
        self.register_outputs({"dashboardName": self.dashboard.dashboard_name})
