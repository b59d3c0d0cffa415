"""What a CloudWatch alarm watches, read from its properties (plain metric or metric math).

Shared by the alarm policies (missing-data intent, shape of absence alarms) and the stack index
(linking alarms to functions). Works on ``plain`` props (see ``values``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .values import UNKNOWN, as_list, dig

_PERCENTILE = re.compile(r"^(p|tm|wm|tc|ts|pr)\d+(\.\d+)?$|^p\d+", re.IGNORECASE)


@dataclass(frozen=True)
class Metric:
    """One metric an alarm reads. ``source`` is the property it came from (for property dependencies)."""

    namespace: Any
    name: Any
    dimensions: Any          # dict, UNKNOWN or None
    stat: Any                # Sum, p95 ... (statistic or extendedStatistic), UNKNOWN or None
    source: str              # "dimensions" (plain alarm) or "metricQueries"

    def dimension(self, key: str) -> Any:
        if self.dimensions is UNKNOWN:
            return UNKNOWN
        if not isinstance(self.dimensions, dict):
            return None
        return self.dimensions.get(key)

    @property
    def is_percentile(self) -> bool:
        return isinstance(self.stat, str) and bool(_PERCENTILE.match(self.stat))


_UNKNOWN_QUERY = Metric(namespace=UNKNOWN, name=UNKNOWN, dimensions=UNKNOWN, stat=UNKNOWN, source="metricQueries")


def metrics(props: dict) -> list[Metric]:
    """Every metric of an alarm: the plain one, or each ``metricQueries[].metric``."""
    out: list[Metric] = []
    if any(props.get(k) is not None for k in ("metricName", "namespace", "statistic", "extendedStatistic")):
        out.append(Metric(namespace=props.get("namespace"), name=props.get("metricName"),
                          dimensions=props.get("dimensions"),
                          stat=props.get("extendedStatistic") or props.get("statistic"), source="dimensions"))
    queries = as_list(props.get("metricQueries"))
    if queries is UNKNOWN:
        out.append(_UNKNOWN_QUERY)
        return out
    for query in queries:
        metric = UNKNOWN if query is UNKNOWN else dig(query, "metric")
        if metric is UNKNOWN:
            out.append(_UNKNOWN_QUERY)
        elif isinstance(metric, dict):
            out.append(Metric(namespace=metric.get("namespace"), name=metric.get("metricName"),
                              dimensions=metric.get("dimensions"), stat=metric.get("stat"), source="metricQueries"))
    return out


def tag(props: dict, key: str) -> Any:
    tags = props.get("tags")
    if tags is UNKNOWN:
        return UNKNOWN
    value = tags.get(key) if isinstance(tags, dict) else None
    if value is None:  # tagsAll carries provider default tags in outputs
        all_tags = props.get("tagsAll")
        value = all_tags.get(key) if isinstance(all_tags, dict) else None
    return value


def absence_shaped(props: dict, *, comparisons: Iterable[str], statistics: Iterable[str]) -> str | None:
    """Why an untagged alarm looks like an absence alarm (a floor on a count), or None (D6)."""
    comparison = props.get("comparisonOperator")
    if not isinstance(comparison, str) or comparison not in comparisons:
        return None
    for metric in metrics(props):
        if isinstance(metric.stat, str) and metric.stat in statistics:
            return f"{comparison} on {metric.stat}({metric.name if isinstance(metric.name, str) else '?'})"
    return None


def alarm_name(props: dict, logical: str) -> Any:
    return props.get("name") or props.get("alarmName") or logical
