"""``Monitoring``: the stack's monitoring registry, a facade in the spirit of cdk-monitoring-constructs.

Created first, with the alarm topic and the stack-wide defaults (the latency fraction, tags). Every
component that makes alarms is handed the registry and its ``AlarmSet`` registers itself there; functions
register themselves for the dashboard's per-function widgets. ``finish()`` then builds the CRITICAL composite
and the operations dashboard from what was registered, so nobody keeps a hand-written list of alarm sets,
and an alarm added anywhere in the program is on the composite (if CRITICAL) and on the dashboard.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi

from components.alarms import AlarmSet, AlarmSetArgs, AlarmSpec, CriticalComposite, CriticalCompositeArgs
from components.dashboard import MonitoredAlarm, OperationsDashboard, OperationsDashboardArgs
from contract.alarms import CRITICAL, DEFAULT_LATENCY_FRACTION, LATENCY_BAND
from contract.naming import resource_name


@dataclass(frozen=True)
class MonitoringDefaults:
    """What every alarm of the stack shares."""

    environment: str
    alarm_topic_arn: pulumi.Input[str]
    latency_fraction: float = DEFAULT_LATENCY_FRACTION
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        low, high = LATENCY_BAND
        if not low <= self.latency_fraction <= high:
            raise ValueError(f"latency fraction {self.latency_fraction} is outside the {low:.0%}-{high:.0%} band: "
                             f"choose a value between {low} and {high}")
        if self.alarm_topic_arn is None:
            raise ValueError("Monitoring needs the alarm topic: every alarm sends alarm and OK actions to it")


@dataclass(frozen=True)
class MonitoredStack:
    """What ``Monitoring.finish`` built."""

    critical: CriticalComposite
    dashboard: OperationsDashboard
    alarms: Sequence[MonitoredAlarm]


class Monitoring:
    """The registry. Not a resource itself: the resources it builds are the composite and the dashboard."""

    def __init__(self, defaults: MonitoringDefaults):
        self.defaults = defaults
        self._alarm_sets: list[AlarmSet] = []
        self._buffered: list[pulumi.Input[str]] = []
        self._streaming: list[pulumi.Input[str]] = []
        self._finished = False

    @property
    def alarm_topic_arn(self) -> pulumi.Input[str]:
        return self.defaults.alarm_topic_arn

    @property
    def latency_fraction(self) -> float:
        return self.defaults.latency_fraction

    @property
    def alarm_sets(self) -> tuple[AlarmSet, ...]:
        return tuple(self._alarm_sets)

    def register(self, alarm_set: AlarmSet) -> None:
        """Called by ``AlarmSet`` itself when its args carry this registry."""
        self._refuse_after_finish(f"alarm set {alarm_set.pulumi_resource_name!r}")
        self._alarm_sets.append(alarm_set)

    def add_function(self, function_name: pulumi.Input[str], *, streaming: bool) -> None:
        """A function whose errors and latency the dashboard graphs (streaming ones by event latency)."""
        self._refuse_after_finish("a function")
        (self._streaming if streaming else self._buffered).append(function_name)

    def alarm_set(self, name: str, prefix: str, specs: Sequence[AlarmSpec],
                  opts: Optional[pulumi.ResourceOptions] = None) -> AlarmSet:
        """An ``AlarmSet`` with the stack's defaults, for alarms that belong to no component (X-Ray groups, cost)."""
        return AlarmSet(name, AlarmSetArgs(prefix=prefix, specs=specs, tags=dict(self.defaults.tags), monitoring=self),
                        opts=opts)

    def monitored_alarms(self) -> list[MonitoredAlarm]:
        return [MonitoredAlarm(alarm.name, s.specs[key].severity, alarm)
                for s in self._alarm_sets for key, alarm in s.alarms.items()]

    def finish(self, *, region: pulumi.Input[str], account_id: pulumi.Input[str]) -> MonitoredStack:
        """Build the CRITICAL composite and the operations dashboard from everything registered."""
        self._refuse_after_finish("finish()")
        self._finished = True
        env, topic = self.defaults.environment, self.defaults.alarm_topic_arn
        critical = CriticalComposite("critical", CriticalCompositeArgs(
            name=resource_name(env, "critical"), alarm_topic_arn=topic,
            members=[a for s in self._alarm_sets for a in s.critical()]))
        monitored = self.monitored_alarms()
        monitored.append(MonitoredAlarm(critical.alarm.alarm_name, CRITICAL, critical.alarm))
        dashboard = OperationsDashboard("operations", OperationsDashboardArgs(
            dashboard_name=resource_name(env, "operations"), region=region, account_id=account_id,
            alarms=monitored, buffered_functions=list(self._buffered), streaming_functions=list(self._streaming),
            tags=dict(self.defaults.tags)))
        return MonitoredStack(critical=critical, dashboard=dashboard, alarms=monitored)

    def _refuse_after_finish(self, what: str) -> None:
        if self._finished:
            raise ValueError(f"{what} was registered after Monitoring.finish(): it would be missing from the "
                             "CRITICAL composite and the dashboard; create it before finish()")
