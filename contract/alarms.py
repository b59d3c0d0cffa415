"""What an alarm's silence means, how alarms are tagged, and where latency thresholds sit.

``components/alarms.py`` builds every alarm of the stack from these rules and the policy pack judges any
program's alarms by the same rules, so the two cannot disagree.
"""
from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class AlarmClass(str, Enum):
    """What missing data means for an alarm (decision D6 in docs/decisions.md)."""

    ABSENCE = "absence"        # heartbeats, canary health, throughput floors: silence is failure
    ERRORS = "errors"          # error/fault counts and rates, throttles, log-filter counts: silence is health
    BACKLOG = "backlog"        # work waiting in a queue (DLQ depth): silence keeps the last state, because SQS
                               # stops reporting an idle queue's metrics after about six hours
    LATENCY = "latency"        # durations and latency percentiles: silence is not evidence
    SATURATION = "saturation"  # memory, concurrency, volume anomalies
    COST = "cost"


#: The single map from alarm class to ``treat_missing_data``.
TREAT_MISSING_DATA: Mapping[AlarmClass, str] = {
    AlarmClass.ABSENCE: "breaching",
    AlarmClass.ERRORS: "notBreaching",
    AlarmClass.BACKLOG: "ignore",
    AlarmClass.LATENCY: "missing",
    AlarmClass.SATURATION: "missing",
    AlarmClass.COST: "notBreaching",
}
#: The values CloudWatch accepts for ``treat_missing_data``.
MISSING_DATA_VALUES: tuple[str, ...] = ("breaching", "notBreaching", "ignore", "missing")

#: Tag keys every alarm made by ``AlarmSet`` carries.
CLASS_TAG = "alarm-class"
SEVERITY_TAG = "severity"
#: The class tag's value on the CRITICAL composite (it has no missing-data setting of its own).
COMPOSITE_CLASS = "composite"

CRITICAL = "CRITICAL"
WARNING = "WARNING"
SEVERITIES: tuple[str, ...] = (CRITICAL, WARNING)

#: An untagged alarm that puts a floor under a count is an absence alarm by its shape.
ABSENCE_COMPARISONS: tuple[str, ...] = ("LessThanThreshold", "LessThanOrEqualToThreshold", "LessThanLowerThreshold")
ABSENCE_STATISTICS: tuple[str, ...] = ("Sum", "SampleCount", "Minimum")

#: The canary calls a run unhealthy below this share of its previous traces read back, and the
#: trace-completeness alarm fires below it: one floor for both.
TRACE_COMPLETENESS_FLOOR = 0.95

#: A buffered function's p95 Duration alarm sits at this fraction of its timeout (D7) ...
DEFAULT_LATENCY_FRACTION = 0.85
#: ... and never outside this band: lower pages on normal slow runs, higher leaves no time to react.
LATENCY_BAND: tuple[float, float] = (0.80, 0.90)


def class_map() -> dict[str, str]:
    """``TREAT_MISSING_DATA`` keyed by the class's tag value (the form configs and tags use)."""
    return {cls.value: treat for cls, treat in TREAT_MISSING_DATA.items()}
