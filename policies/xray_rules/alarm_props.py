"""What a CloudWatch alarm watches, read from its properties (plain metric or metric math).

Shared by the alarm policies (missing-data intent, shape of absence alarms) and the stack index
(linking alarms to functions). Works on ``plain`` props (see ``values``).
"""
from __future__ import annotations

import re
from collections.abc import Container, Iterable
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
        """A percentile statistic, or one unknown at preview (it may be one)."""
        return self.stat is UNKNOWN or (isinstance(self.stat, str) and bool(_PERCENTILE.match(self.stat)))


_UNKNOWN_QUERY = Metric(namespace=UNKNOWN, name=UNKNOWN, dimensions=UNKNOWN, stat=UNKNOWN, source="metricQueries")


def metrics(props: dict) -> list[Metric]:
    """Every metric of an alarm: the plain one, or each ``metricQueries[].metric``."""
    out: list[Metric] = []
    if any(props.get(k) is not None for k in ("metricName", "namespace", "statistic", "extendedStatistic")):
        out.append(_plain_metric(props))
    queries = as_list(props.get("metricQueries"))
    if queries is UNKNOWN:
        out.append(_UNKNOWN_QUERY)
        return out
    for query in queries:
        out.extend(_query_metric(query))
    return out


def _plain_metric(props: dict) -> Metric:
    extended = props.get("extendedStatistic")  # an unknown percentile is unknown, not absent (UNKNOWN is falsy)
    return Metric(namespace=props.get("namespace"), name=props.get("metricName"), dimensions=props.get("dimensions"),
                  stat=props.get("statistic") if extended is None else extended, source="dimensions")


def _query_metric(query: Any) -> list[Metric]:
    metric = UNKNOWN if query is UNKNOWN else dig(query, "metric")
    if metric is UNKNOWN:
        return [_UNKNOWN_QUERY]
    if isinstance(metric, dict):
        return [Metric(namespace=metric.get("namespace"), name=metric.get("metricName"),
                       dimensions=metric.get("dimensions"), stat=metric.get("stat"), source="metricQueries")]
    return []


def alarmed(props: dict) -> list[Metric]:
    """The metric whose value the alarm compares with its threshold: the plain metric, or the metric query that
    returns data (``return_data``, or the only query). An expression returns a computed series, not a metric
    (empty list); an unknown query list or flag may be any of them (all its metrics)."""
    queries = as_list(props.get("metricQueries"))
    if queries is UNKNOWN:
        return [_UNKNOWN_QUERY]
    if not queries:
        return [_plain_metric(props)]
    flags = [dig(q, "returnData") for q in queries]
    if UNKNOWN in flags:
        return [m for q in queries for m in _query_metric(q)]
    returned = [q for q, flag in zip(queries, flags, strict=True) if flag is True] or (
        queries if len(queries) == 1 else [])
    return [m for q in returned for m in _query_metric(q)]


def tag(props: dict, key: str) -> Any:
    tags = props.get("tags")
    if tags is UNKNOWN:
        return UNKNOWN
    value = tags.get(key) if isinstance(tags, dict) else None
    if value is None:  # tagsAll carries provider default tags in outputs
        all_tags = props.get("tagsAll")
        value = all_tags.get(key) if isinstance(all_tags, dict) else None
    return value


def absence_shaped(props: dict, *, comparisons: Iterable[str], statistics: Iterable[str],
                   log_filter_metrics: Container[tuple[Any, Any]] = ()) -> str | None:
    """Why an untagged alarm looks like an absence alarm, or None (D6).

    Its shape is a floor (``comparisons``) under a count (``statistics``) of the metric it compares: a rate or
    ratio computed by an expression is not a count, and neither is a metric a log metric filter publishes, which
    has no data point at all while the function writes no logs (so breaching would page on every quiet hour)."""
    comparison = props.get("comparisonOperator")
    if not isinstance(comparison, str) or comparison not in comparisons:
        return None
    for metric in alarmed(props):
        if (isinstance(metric.stat, str) and metric.stat in statistics
                and (metric.namespace, metric.name) not in log_filter_metrics):
            return f"{comparison} on {metric.stat}({metric.name if isinstance(metric.name, str) else '?'})"
    return None


def alarm_name(props: dict, logical: str) -> Any:
    """The alarm's physical name; ``UNKNOWN`` while it is unknown (never the logical name in its place)."""
    for key in ("name", "alarmName"):
        if props.get(key) is not None:
            return props[key]
    return logical


def alarm_label(props: dict, logical: str) -> str:
    """How a message names the alarm: its physical name when known, else its logical name."""
    name = alarm_name(props, logical)
    return name if isinstance(name, str) else logical
