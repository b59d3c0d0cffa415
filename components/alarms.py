"""The one place that knows alarm semantics: classes, missing-data treatment, thresholds, wiring.

An ``AlarmSpec`` says *what* to watch and *why* (its class); ``AlarmSet`` turns specs into CloudWatch
alarms that all follow the same rules: 1-minute periods, M-of-N evaluation, ``treat_missing_data``
chosen by class (decision D6 in docs/decisions.md, never by hand), an ``alarm-class`` and a ``severity`` tag, and alarm and
OK actions to the alarm topic (D8). The factories (``lambda_specs``, ``streaming_specs`` ...) are the
catalogue: thresholds are derived (p95 Duration at 85% of the timeout, D7/FR-061), not typed.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import pulumi
import pulumi_aws as aws

from contract import metrics as m
from contract.alarms import (
    CLASS_TAG,
    COMPOSITE_CLASS,
    CRITICAL,
    DEFAULT_LATENCY_FRACTION,
    LATENCY_BAND,
    SEVERITIES,
    SEVERITY_TAG,
    TRACE_COMPLETENESS_FLOOR,
    TREAT_MISSING_DATA,
    WARNING,
    AlarmClass,
)
from contract.data import FAILURE_PATHS

if TYPE_CHECKING:  # the registry imports this module; alarm sets only call back into it
    from components.monitoring import Monitoring

TYPE = "sentiment:observability:AlarmSet"

__all__ = ["CRITICAL", "DEFAULT_LATENCY_FRACTION", "LATENCY_BAND", "TREAT_MISSING_DATA", "WARNING", "AlarmClass",
           "AlarmSet", "AlarmSetArgs", "AlarmSpec", "CriticalComposite", "CriticalCompositeArgs", "Evaluation",
           "app_metric_specs", "canary_specs", "export_failure_specs", "cost_specs", "duration_threshold_ms", "lambda_specs",
           "metric_fallback_spec", "silent_failure_specs", "streaming_specs", "xray_group_specs"]

_COMPARISONS = {"GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold",
                "LessThanOrEqualToThreshold", "GreaterThanUpperThreshold", "LessThanLowerThreshold",
                "LessThanLowerOrGreaterThanUpperThreshold"}
_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


@dataclass(frozen=True)
class Evaluation:
    """M-of-N evaluation over 1-minute periods (``datapoints`` of ``periods`` must breach)."""

    datapoints: int = 1
    periods: int = 1
    period_seconds: int = 60

    def __post_init__(self) -> None:
        if not 1 <= self.datapoints <= self.periods:
            raise ValueError(f"Evaluation needs 1 <= datapoints <= periods, got {self.datapoints} of {self.periods}")
        if self.period_seconds not in (10, 30) and self.period_seconds % 60:
            raise ValueError(f"period_seconds must be 10, 30 or a multiple of 60, got {self.period_seconds}")


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """One alarm, declared by intent, by keyword. Exactly one of ``metric_name`` or ``metric_queries``."""

    suffix: str                      # alarm name = f"{prefix}-{suffix}"
    alarm_class: AlarmClass
    description: str
    comparison: str
    threshold: Optional[float]
    metric_name: Optional[str] = None
    namespace: Optional[str] = None
    statistic: Optional[str] = None  # Sum, Average, Maximum, Minimum, SampleCount
    extended_statistic: Optional[str] = None  # p95, p99 ...
    dimensions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    metric_queries: Sequence[Mapping] = ()  # metric math (pulumi_aws MetricAlarmMetricQuery dicts)
    threshold_metric_id: Optional[str] = None  # anomaly-detection band alarms
    evaluation: Evaluation = Evaluation()
    severity: str = WARNING

    def __post_init__(self) -> None:
        if not _SUFFIX.match(self.suffix):
            raise ValueError(f"alarm suffix {self.suffix!r}: use lowercase letters, digits and '-'")
        if not isinstance(self.alarm_class, AlarmClass):
            raise ValueError(f"alarm {self.suffix!r}: alarm_class must be an AlarmClass, got {self.alarm_class!r}")
        if self.comparison not in _COMPARISONS:
            raise ValueError(f"alarm {self.suffix!r}: unknown comparison {self.comparison!r}")
        if bool(self.metric_name) == bool(self.metric_queries):
            raise ValueError(f"alarm {self.suffix!r}: give either metric_name (with namespace) or metric_queries")
        if self.metric_name and not self.namespace:
            raise ValueError(f"alarm {self.suffix!r}: metric {self.metric_name} needs a namespace")
        if self.metric_name and bool(self.statistic) == bool(self.extended_statistic):
            raise ValueError(f"alarm {self.suffix!r}: give exactly one of statistic or extended_statistic")
        if self.threshold is None and not self.threshold_metric_id:
            raise ValueError(f"alarm {self.suffix!r}: needs a threshold (or threshold_metric_id for anomaly bands)")
        if self.severity not in SEVERITIES:
            raise ValueError(f"alarm {self.suffix!r}: severity must be CRITICAL or WARNING")

    @property
    def treat_missing_data(self) -> str:
        return TREAT_MISSING_DATA[self.alarm_class]


# -- the catalogue ----------------------------------------------------------------------------------

def _metric(metric_id: str, name: str, namespace: str, dims: Mapping, stat: str, return_data: bool = False) -> dict:
    return {"id": metric_id, "return_data": return_data,
            "metric": {"metric_name": name, "namespace": namespace, "period": 60, "stat": stat,
                       "dimensions": dict(dims)}}


def duration_threshold_ms(timeout_seconds: int, fraction: float = DEFAULT_LATENCY_FRACTION) -> float:
    """p95 Duration threshold derived from the timeout (D7, FR-061): never typed by hand."""
    low, high = LATENCY_BAND
    if not low <= fraction <= high:
        raise ValueError(f"latency fraction {fraction} is outside the {low:.0%}-{high:.0%} band of FR-061")
    return round(timeout_seconds * 1000 * fraction, 1)


def lambda_specs(function_name: pulumi.Input[str], timeout_seconds: int, *,
                 latency_fraction: float = DEFAULT_LATENCY_FRACTION, error_rate_percent: float = 5.0,
                 errors: Evaluation = Evaluation(1, 1), latency: Evaluation = Evaluation(3, 5),
                 include_duration: bool = True) -> list[AlarmSpec]:
    """Errors (count and rate), throttles and p95 Duration for one function (FR-040/041, SC-017)."""
    dims = {"FunctionName": function_name}
    specs = [
        AlarmSpec(suffix="errors", alarm_class=AlarmClass.ERRORS, description="Lambda invocation errors (FR-040)",
                  comparison="GreaterThanOrEqualToThreshold", threshold=1, metric_name="Errors",
                  namespace="AWS/Lambda", statistic="Sum", dimensions=dims, evaluation=errors),
        AlarmSpec(suffix="error-rate", alarm_class=AlarmClass.ERRORS,
                  description=f"Error rate above {error_rate_percent}% with more than 10 invocations (FR-127)",
                  comparison="GreaterThanThreshold", threshold=error_rate_percent,
                  metric_queries=[
                      _metric("errors", "Errors", "AWS/Lambda", dims, "Sum"),
                      _metric("invocations", "Invocations", "AWS/Lambda", dims, "Sum"),
                      {"id": "rate", "label": "Error rate (%)", "return_data": True,
                       "expression": "IF(invocations > 10, 100 * errors / invocations, 0)"}],
                  evaluation=Evaluation(2, 2), severity=CRITICAL),
        AlarmSpec(suffix="throttles", alarm_class=AlarmClass.ERRORS, description="Invocations throttled",
                  comparison="GreaterThanOrEqualToThreshold", threshold=1, metric_name="Throttles",
                  namespace="AWS/Lambda", statistic="Sum", dimensions=dims, evaluation=Evaluation(2, 3)),
    ]
    if include_duration:
        specs.append(AlarmSpec(suffix="p95-duration", alarm_class=AlarmClass.LATENCY,
                               description=(f"p95 Duration above {latency_fraction:.0%} of the {timeout_seconds} s timeout "
                                            "(D7, FR-041, FR-061)"),
                               comparison="GreaterThanThreshold",
                               threshold=duration_threshold_ms(timeout_seconds, latency_fraction),
                               metric_name="Duration", namespace="AWS/Lambda",
                               extended_statistic="p95", dimensions=dims, evaluation=latency))
    return specs


def streaming_specs(function_name: pulumi.Input[str], *, event_latency_slo_ms: float = 3000,
                    connection_setup_p99_ms: float = 5000, poll_duration_p95_ms: float = 2000) -> list[AlarmSpec]:
    """The SSE function's own alarms (D7, FR-042): its Duration is the stream length by design, so
    connection-setup and event latency are alarmed instead, plus pool saturation and URL 5xx."""
    dims = {"FunctionName": function_name}
    return [
        AlarmSpec(suffix="event-latency-p95", alarm_class=AlarmClass.LATENCY,
                  description="SSE EventLatencyMs p95 above the 3,000 ms SLO (FR-042)",
                  comparison="GreaterThanThreshold", threshold=event_latency_slo_ms,
                  metric_name=m.EVENT_LATENCY_MS, namespace=m.SSE_NAMESPACE, extended_statistic="p95",
                  dimensions=dims, evaluation=Evaluation(3, 5)),
        AlarmSpec(suffix="connection-setup-p99", alarm_class=AlarmClass.LATENCY,
                  description="SSE connection setup p99 above 5 s (FR-128)",
                  comparison="GreaterThanThreshold", threshold=connection_setup_p99_ms,
                  metric_name=m.CONNECTION_SETUP_MS, namespace=m.SSE_NAMESPACE, extended_statistic="p99",
                  dimensions=dims, evaluation=Evaluation(3, 5)),
        AlarmSpec(suffix="poll-duration-p95", alarm_class=AlarmClass.LATENCY,
                  description="DynamoDB poll duration p95 (FR-042 PollDurationMs)",
                  comparison="GreaterThanThreshold", threshold=poll_duration_p95_ms,
                  metric_name=m.POLL_DURATION_MS, namespace=m.SSE_NAMESPACE, extended_statistic="p95",
                  dimensions=dims, evaluation=Evaluation(3, 5)),
        AlarmSpec(suffix="connection-acquire-failures", alarm_class=AlarmClass.ERRORS,
                  # Binds only where one process serves many streams; on Lambda saturation is Throttles (D13).
                  description="Connection pool full: clients refused with 503 (FR-042)",
                  comparison="GreaterThanThreshold", threshold=0, metric_name=m.CONNECTION_ACQUIRE_FAILURES,
                  namespace=m.SSE_NAMESPACE, statistic="Sum", dimensions=dims, evaluation=Evaluation(2, 3)),
        AlarmSpec(suffix="url-5xx", alarm_class=AlarmClass.ERRORS, description="Function URL 5xx responses (FR-138)",
                  comparison="GreaterThanThreshold", threshold=0, metric_name="Url5xxCount",
                  namespace="AWS/Lambda", statistic="Sum", dimensions=dims, evaluation=Evaluation(2, 3)),
    ]


def silent_failure_specs(function_name: pulumi.Input[str], paths: Sequence[str]) -> list[AlarmSpec]:
    """One alarm per silent-failure path (D5, FR-043, SC-019), on the dimensions the handler emits."""
    unknown = [p for p in paths if p not in FAILURE_PATHS]
    if unknown:
        raise ValueError(f"unknown failure path(s) {unknown}; choose from {list(FAILURE_PATHS)}")
    return [AlarmSpec(suffix=f"silent-failure-{p.replace('_', '-')}", alarm_class=AlarmClass.ERRORS,
                      description=f"Silent failure on path {p}: the flow went on, this is its only signal (D5)",
                      comparison="GreaterThanThreshold", threshold=0,
                      metric_name=m.SILENT_FAILURE_METRIC, namespace=m.SILENT_FAILURE_NAMESPACE,
                      statistic="Sum",
                      dimensions={m.FUNCTION_DIMENSION: function_name, m.FAILURE_PATH_DIMENSION: p}) for p in paths]


def metric_fallback_spec(namespace: str, period_seconds: int) -> AlarmSpec:
    """The JSON fallback log line counted by a metric filter with default 0 (D5). An errors-class alarm: the
    filter emits its default only for periods that have log events, so an idle period is missing data, and
    ``breaching`` would page on every quiet night (D6). A silent log pipeline is the heartbeat's and the canary's
    to catch."""
    return AlarmSpec(suffix="metric-fallback", alarm_class=AlarmClass.ERRORS,
                     description="PutMetricData failed and the silent-failure signal fell back to a log line (D5, FR-125)",
                     comparison="GreaterThanThreshold", threshold=0, metric_name=m.METRIC_FALLBACK_METRIC,
                     namespace=namespace, statistic="Sum", evaluation=Evaluation(1, 1, period_seconds),
                     severity=CRITICAL)


def export_failure_specs(namespace: str) -> list[AlarmSpec]:
    """Spans lost on either hop of the streaming path, each counted from its log lines by a metric filter with
    default 0 (issue 9; the canary writes to X-Ray directly, so nothing else watches this path): the app's batches
    the collector never took (``AppSpanExportFailures``) and the collector's failed exports to X-Ray
    (``CollectorExportFailures``). Any in a minute alarms: a dropped batch is spans lost for good. Errors class,
    as the fallback line: a minute without log events is missing data, not a failure (D6)."""
    return [
        AlarmSpec(suffix="app-export-failures", alarm_class=AlarmClass.ERRORS,
                  description="The SSE app could not hand spans to the collector: streaming traces are being lost",
                  comparison="GreaterThanThreshold", threshold=0, metric_name=m.APP_EXPORT_FAILURES,
                  namespace=namespace, statistic="Sum", evaluation=Evaluation(1, 1)),
        AlarmSpec(suffix="collector-export-failures", alarm_class=AlarmClass.ERRORS,
                  description="The ADOT collector failed to export spans to X-Ray: streaming traces are being lost",
                  comparison="GreaterThanThreshold", threshold=0, metric_name=m.COLLECTOR_EXPORT_FAILURES,
                  namespace=namespace, statistic="Sum", evaluation=Evaluation(1, 1)),
    ]


def dlq_depth_spec(queue_name: pulumi.Input[str]) -> AlarmSpec:
    """Failed events waiting in a dead-letter queue: they are kept, and somebody must look at them. A backlog
    alarm (missing data ignored): SQS reports a queue's metrics only while it is active, up to six hours after
    the last API call (docs/aws-facts.md SQS-2), so a ``notBreaching`` alarm would return to OK while the message
    still waits its 14 days; ignoring the silence keeps it in ALARM until someone reads the queue."""
    return AlarmSpec(suffix="dlq-depth", alarm_class=AlarmClass.BACKLOG,
                     description="Failed events waiting in the dead-letter queue", comparison="GreaterThanThreshold",
                     threshold=0, metric_name="ApproximateNumberOfMessagesVisible", namespace="AWS/SQS",
                     statistic="Maximum", dimensions={"QueueName": queue_name}, evaluation=Evaluation(1, 1, 300))


def app_metric_specs(environment: str) -> dict[str, list[AlarmSpec]]:
    """Alarms on the custom metrics nobody alarmed before (FR-042, SC-018), grouped by owning Lambda."""
    dims = {m.ENVIRONMENT_DIMENSION: environment}
    return {
        "metrics": [
            AlarmSpec(suffix="stuck-items", alarm_class=AlarmClass.ERRORS,
                      description=f"Items pending for more than {m.STUCK_AFTER_MINUTES} minutes (FR-042 StuckItems)",
                      comparison="GreaterThanThreshold", threshold=0, metric_name=m.STUCK_ITEMS,
                      namespace=m.APP_NAMESPACE, statistic="Maximum", dimensions=dims,
                      evaluation=Evaluation(3, 3)),
            AlarmSpec(suffix="emission-heartbeat", alarm_class=AlarmClass.ABSENCE,
                      description="No EmissionHeartbeat for 3 minutes: the metric pipeline is silent (FR-126)",
                      comparison="LessThanThreshold", threshold=1, metric_name=m.EMISSION_HEARTBEAT,
                      namespace=m.APP_NAMESPACE, statistic="Sum", dimensions=dims,
                      evaluation=Evaluation(3, 3), severity=CRITICAL),
            AlarmSpec(suffix="metrics-lambda-errors", alarm_class=AlarmClass.ERRORS,
                      description="Metrics Lambda failed its own work (FR-042)",
                      comparison="GreaterThanThreshold", threshold=0,
                      metric_name=m.METRICS_LAMBDA_ERRORS, namespace=m.APP_NAMESPACE, statistic="Sum",
                      dimensions=dims),
        ],
        "analysis": [
            AlarmSpec(suffix="analysis-errors", alarm_class=AlarmClass.ERRORS,
                      description="Sentiment analysis failures (FR-042 AnalysisErrors)",
                      comparison="GreaterThanThreshold", threshold=3, metric_name=m.ANALYSIS_ERRORS,
                      namespace=m.APP_NAMESPACE, statistic="Sum", dimensions=dims,
                      evaluation=Evaluation(1, 5)),
        ],
        "ingestion": [
            AlarmSpec(suffix="high-latency", alarm_class=AlarmClass.LATENCY,
                      description=f"A news API fetch took longer than {m.HIGH_LATENCY_FETCH_SECONDS:g} s (FR-042)",
                      comparison="GreaterThanThreshold", threshold=0, metric_name=m.HIGH_LATENCY_ALERT,
                      namespace=m.INGESTION_NAMESPACE, statistic="Sum", dimensions=dims,
                      evaluation=Evaluation(2, 3)),
            AlarmSpec(suffix="no-new-items", alarm_class=AlarmClass.ABSENCE,
                      description="No new item ingested for an hour (FR-045 throughput floor)",
                      comparison="LessThanThreshold", threshold=1, metric_name=m.NEW_ITEMS_INGESTED,
                      namespace=m.INGESTION_NAMESPACE, statistic="Sum", dimensions=dims,
                      evaluation=Evaluation(1, 1, 3600), severity=CRITICAL),
        ],
    }


# -- the component ----------------------------------------------------------------------------------

@dataclass
class AlarmSetArgs:
    """Alarms for one subject (a function, an API, a topic). ``prefix`` names them all.

    With ``monitoring`` the set registers itself in the stack's registry (composite, dashboard) and takes
    the registry's alarm topic unless ``alarm_topic_arn`` is given.
    """

    prefix: str
    specs: Sequence[AlarmSpec]
    alarm_topic_arn: Optional[pulumi.Input[str]] = None
    tags: Mapping[str, str] = field(default_factory=dict)
    monitoring: Optional[Monitoring] = None

    def __post_init__(self) -> None:
        if not self.specs:
            raise ValueError(f"AlarmSet {self.prefix!r} has no alarm specs: give at least one")
        suffixes = [s.suffix for s in self.specs]
        dupes = sorted({s for s in suffixes if suffixes.count(s) > 1})
        if dupes:
            raise ValueError(f"AlarmSet {self.prefix!r}: duplicate alarm suffixes {dupes}")
        if len(self.prefix) + max(len(s) for s in suffixes) + 1 > 255:
            raise ValueError(f"AlarmSet {self.prefix!r}: alarm names would exceed 255 characters")
        if self.alarm_topic_arn is None and self.monitoring is None:
            raise ValueError(f"AlarmSet {self.prefix!r}: give alarm_topic_arn or monitoring (every alarm sends alarm "
                             "and OK actions to the alarm topic)")

    @property
    def topic(self) -> pulumi.Input[str]:
        if self.alarm_topic_arn is not None:
            return self.alarm_topic_arn
        assert self.monitoring is not None  # checked in __post_init__
        return self.monitoring.alarm_topic_arn


class AlarmSet(pulumi.ComponentResource):
    """CloudWatch alarms built from specs, each with D6 missing-data semantics and D8 actions."""

    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    specs: dict[str, AlarmSpec]

    def __init__(self, name: str, args: AlarmSetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        if args.monitoring is not None:  # first, so a set refused after finish() creates no alarm
            args.monitoring.register(self)
        child = pulumi.ResourceOptions(parent=self)
        self.alarms, self.specs = {}, {}
        topic = args.topic
        for spec in args.specs:
            alarm_name = f"{args.prefix}-{spec.suffix}"
            kwargs: dict = dict(
                name=alarm_name,
                alarm_description=spec.description,
                comparison_operator=spec.comparison,
                evaluation_periods=spec.evaluation.periods,
                datapoints_to_alarm=spec.evaluation.datapoints,
                treat_missing_data=spec.treat_missing_data,
                actions_enabled=True,
                alarm_actions=[topic],
                ok_actions=[topic],
                tags={**args.tags, CLASS_TAG: spec.alarm_class.value, SEVERITY_TAG: spec.severity},
            )
            if spec.threshold is not None:
                kwargs["threshold"] = spec.threshold
            if spec.threshold_metric_id:
                kwargs["threshold_metric_id"] = spec.threshold_metric_id
            if spec.metric_name:
                kwargs.update(metric_name=spec.metric_name, namespace=spec.namespace, period=spec.evaluation.period_seconds,
                              dimensions=dict(spec.dimensions))
                if spec.statistic:
                    kwargs["statistic"] = spec.statistic
                else:
                    kwargs["extended_statistic"] = spec.extended_statistic
            else:
                kwargs["metric_queries"] = [_with_period(q, spec.evaluation.period_seconds) for q in spec.metric_queries]
            self.alarms[spec.suffix] = aws.cloudwatch.MetricAlarm(alarm_name, opts=child, **kwargs)
            self.specs[spec.suffix] = spec
        self.alarm_names = [a.name for a in self.alarms.values()]
        self.register_outputs({"alarmNames": self.alarm_names})

    def critical(self) -> list[aws.cloudwatch.MetricAlarm]:
        return [self.alarms[s] for s, spec in self.specs.items() if spec.severity == CRITICAL]


def _with_period(query: Mapping, period: int) -> dict:
    if "metric" not in query:
        return dict(query)
    return {**query, "metric": {**query["metric"], "period": period}}


@dataclass
class CriticalCompositeArgs:
    name: str
    alarm_topic_arn: pulumi.Input[str]
    members: Sequence[aws.cloudwatch.MetricAlarm]

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("CriticalComposite needs at least one CRITICAL alarm")


class CriticalComposite(pulumi.ComponentResource):
    """The severity-tagged CRITICAL composite (D8, FR-129): in ALARM when any CRITICAL alarm is."""

    def __init__(self, name: str, args: CriticalCompositeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("sentiment:observability:CriticalComposite", name, None, opts)
        rule = pulumi.Output.all(*[m.name for m in args.members]).apply(
            lambda names: " OR ".join(f'ALARM("{n}")' for n in names))
        self.alarm = aws.cloudwatch.CompositeAlarm(
            name, alarm_name=args.name, alarm_rule=rule, actions_enabled=True,
            alarm_actions=[args.alarm_topic_arn], ok_actions=[args.alarm_topic_arn],
            alarm_description="Any CRITICAL alarm of the stack is firing",
            tags={SEVERITY_TAG: CRITICAL, CLASS_TAG: COMPOSITE_CLASS},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.members)))
        self.register_outputs({"alarmName": self.alarm.alarm_name})


def xray_group_specs(errors_group: str, sse_group: str, reconnections_group: str) -> list[AlarmSpec]:
    """Alarms on X-Ray group metrics (SC-013, FR-141, D13 trace-volume anomaly)."""
    def count(group: str) -> dict:
        return {"GroupName": group}
    return [
        AlarmSpec(suffix="xray-error-traces", alarm_class=AlarmClass.ERRORS,
                  description="Sampled traces with an error or fault (SC-013)",
                  comparison="GreaterThanThreshold", threshold=5, metric_name="ApproximateTraceCount",
                  namespace="AWS/X-Ray", statistic="Sum", dimensions=count(errors_group),
                  evaluation=Evaluation(2, 3)),
        AlarmSpec(suffix="sse-reconnections", alarm_class=AlarmClass.ERRORS,
                  description="SSE reconnections above 10 per minute (FR-141)",
                  comparison="GreaterThanThreshold", threshold=10, metric_name="ApproximateTraceCount",
                  namespace="AWS/X-Ray", statistic="Sum", dimensions=count(reconnections_group),
                  evaluation=Evaluation(3, 5)),
        AlarmSpec(suffix="sse-trace-volume-anomaly", alarm_class=AlarmClass.SATURATION,
                  description="SSE trace volume far above its usual band: clients may be forcing Sampled=1 (D13, FR-161)",
                  comparison="GreaterThanUpperThreshold", threshold=None, threshold_metric_id="band",
                  metric_queries=[
                      {"id": "traces", "return_data": True, "metric": {
                          "metric_name": "ApproximateTraceCount", "namespace": "AWS/X-Ray", "period": 3600,
                          "stat": "Sum", "dimensions": count(sse_group)}},
                      {"id": "band", "return_data": True, "label": "Expected volume",
                       "expression": "ANOMALY_DETECTION_BAND(traces, 3)"}],
                  evaluation=Evaluation(1, 1, 3600)),
    ]


def canary_specs(namespace: str, dimensions: Mapping[str, pulumi.Input[str]], interval_seconds: int) -> list[AlarmSpec]:
    """The canary's own signals (US6, US9, US11, FR-019/020/036/049): silence means the pipeline is down."""
    return [
        AlarmSpec(suffix="canary-health", alarm_class=AlarmClass.ABSENCE,
                  description="Canary run unhealthy or missing (FR-020)", comparison="LessThanThreshold",
                  threshold=1, metric_name=m.CANARY_HEALTH, namespace=namespace, statistic="Minimum",
                  dimensions=dimensions, evaluation=Evaluation(2, 2, interval_seconds), severity=CRITICAL),
        AlarmSpec(suffix="trace-completeness", alarm_class=AlarmClass.ABSENCE,
                  description=(f"Fewer than {TRACE_COMPLETENESS_FLOOR:.0%} of the canary's test traces came back from "
                               "X-Ray (FR-036, SC-014)"),
                  comparison="LessThanThreshold", threshold=TRACE_COMPLETENESS_FLOOR,
                  metric_name=m.TRACE_COMPLETENESS_RATIO,
                  namespace=namespace, statistic="Average", dimensions=dimensions,
                  evaluation=Evaluation(2, 2, interval_seconds), severity=CRITICAL),
        AlarmSpec(suffix="cloudwatch-roundtrip", alarm_class=AlarmClass.ABSENCE,
                  description="The canary's test metric was not readable back from CloudWatch (FR-049)",
                  comparison="LessThanThreshold", threshold=1, metric_name=m.METRIC_ROUND_TRIP,
                  namespace=namespace, statistic="Minimum", dimensions=dimensions,
                  evaluation=Evaluation(2, 2, interval_seconds), severity=CRITICAL),
    ]


def cost_specs(service_name: str, monthly_usd: float) -> list[AlarmSpec]:
    """Estimated X-Ray charges (billing metrics live in us-east-1 only)."""
    return [AlarmSpec(suffix="xray-estimated-charges", alarm_class=AlarmClass.COST,
                      description=f"Estimated X-Ray charges above ${monthly_usd:g} (FR-038)",
                      comparison="GreaterThanThreshold", threshold=monthly_usd,
                      metric_name="EstimatedCharges", namespace="AWS/Billing", statistic="Maximum",
                      dimensions={"ServiceName": service_name, "Currency": "USD"},
                      evaluation=Evaluation(1, 1, 21600))]
