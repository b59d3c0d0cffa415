"""Custom CloudWatch metrics: namespaces, names, dimensions, and the fallback log line.

What the handlers emit and what the alarms watch are the same names because both import them from here.
Buffered Lambdas and the canary emit with the dimension ``Environment``; the SSE app and the silent-failure
recorder emit per function (``FunctionName``).
"""
from __future__ import annotations

from contract.naming import resource_name

# -- namespaces ---------------------------------------------------------------------------------------
APP_NAMESPACE = "SentimentAnalyzer"                      # the metrics tick and analysis
INGESTION_NAMESPACE = "SentimentAnalyzer/Ingestion"      # ingestion's throughput and latency
SSE_NAMESPACE = "SentimentAnalyzer/SSE"                  # the streaming service
SILENT_FAILURE_NAMESPACE = "SentimentAnalyzer/Reliability"
CANARY_NAMESPACE = "SentimentAnalyzer/Canary"

# -- dimensions ---------------------------------------------------------------------------------------
ENVIRONMENT_DIMENSION = "Environment"
FUNCTION_DIMENSION = "FunctionName"
FAILURE_PATH_DIMENSION = "FailurePath"

# -- metric names -------------------------------------------------------------------------------------
#: SentimentAnalyzer: written by the metrics tick in one PutMetricData call (so the heartbeat proves the
#: stuck-items count was emitted too), and by analysis.
STUCK_ITEMS = "StuckItems"
#: ... counts the items still pending this many minutes after their timestamp.
STUCK_AFTER_MINUTES = 5
EMISSION_HEARTBEAT = "EmissionHeartbeat"
METRICS_LAMBDA_ERRORS = "MetricsLambdaErrors"
ANALYSIS_ERRORS = "AnalysisErrors"
#: SentimentAnalyzer/Ingestion.
NEW_ITEMS_INGESTED = "NewItemsIngested"
DUPLICATE_ITEMS_SKIPPED = "DuplicateItemsSkipped"
FETCH_ERRORS = "FetchErrors"            # news sources that failed in a run (no alarm: the silent path counts it)
SELF_HEALED_ITEMS = "SelfHealedItems"   # pending items republished for analysis after an hour
HIGH_LATENCY_ALERT = "HighLatencyAlert"
#: ... which is 1 in a run where a news-API fetch took longer than this many seconds (FR-042).
HIGH_LATENCY_FETCH_SECONDS = 30.0
#: SentimentAnalyzer/SSE (dimension FunctionName).
CONNECTION_COUNT = "ConnectionCount"
EVENT_LATENCY_MS = "EventLatencyMs"
CONNECTION_ACQUIRE_FAILURES = "ConnectionAcquireFailures"
POLL_DURATION_MS = "PollDurationMs"
CONNECTION_SETUP_MS = "ConnectionSetupMs"
#: Requests that carried no X-Ray context (no ``x-amzn-trace-id`` header, no ``_X_AMZN_TRACE_ID``): their first
#: span starts a new root, unlinked from the invocation's trace.
UNLINKED_REQUESTS = "UnlinkedRequests"
SSE_UNITS: dict[str, str] = {CONNECTION_COUNT: "Count", EVENT_LATENCY_MS: "Milliseconds",
                             CONNECTION_ACQUIRE_FAILURES: "Count", POLL_DURATION_MS: "Milliseconds",
                             CONNECTION_SETUP_MS: "Milliseconds", UNLINKED_REQUESTS: "Count"}
#: SentimentAnalyzer/Canary (dimension Environment).
CANARY_HEALTH = "CanaryHealth"
TRACE_COMPLETENESS_RATIO = "TraceCompletenessRatio"
METRIC_ROUND_TRIP = "MetricRoundTrip"
TRACE_DATA_LOSS = "TraceDataLoss"   # the previous run's traces X-Ray did not return
TRACE_PARTIAL = "TracePartial"      # ... and those it returned incomplete
CANARY_PROBE = "CanaryProbe"        # the test datum each run puts and the next run reads back
#: SentimentAnalyzer/Reliability: one datum per silent failure (dimensions FunctionName, FailurePath).
SILENT_FAILURE_METRIC = "SilentFailure"

# -- the fallback log line ------------------------------------------------------------------------------
#: When PutMetricData itself fails, a handler writes one JSON log line per metric with this field set to
#: true; a metric filter with this pattern counts the lines into ``METRIC_FALLBACK_METRIC``.
METRIC_FALLBACK_FIELD = "metric_fallback"
METRIC_FALLBACK_FILTER_PATTERN = "{ $." + METRIC_FALLBACK_FIELD + " = true }"
METRIC_FALLBACK_METRIC = "MetricEmissionFallback"
#: The fallback line's exception message is cut to this many characters.
FALLBACK_MESSAGE_LIMIT = 256

# -- the collector's export failures ----------------------------------------------------------------------
#: The ADOT collector extension logs into its function's log group; its exporter starts with this phrase each line
#: saying spans were lost ("Exporting failed. Dropping data." / "... Rejecting data.", error level; the retry
#: line is info level, below the ``warn`` the collector config keeps).
COLLECTOR_EXPORT_FAILURE_PHRASE = "Exporting failed"
#: A quoted term matches log events containing the exact phrase, in the collector's console or JSON log encoding.
COLLECTOR_EXPORT_FAILURE_PATTERN = f'"{COLLECTOR_EXPORT_FAILURE_PHRASE}"'
#: ... counted by a metric filter into the function's own namespace (``fallback_namespace``), as the fallback lines.
COLLECTOR_EXPORT_FAILURES = "CollectorExportFailures"
#: The hop before it: the SSE app logs this phrase (warning) each time a batch of spans could not be handed to the
#: collector on localhost (the SDK drops the batch), and a second filter counts it, so app -> collector is watched too.
APP_EXPORT_FAILURE_PHRASE = "Span export to the collector failed"
APP_EXPORT_FAILURE_PATTERN = f'"{APP_EXPORT_FAILURE_PHRASE}"'
APP_EXPORT_FAILURES = "AppSpanExportFailures"


def fallback_namespace(function_name: str) -> str:
    """Where a function's metric filter counts its fallback lines (one namespace per function)."""
    return f"{SILENT_FAILURE_NAMESPACE}/{function_name}"


def sse_function_name(environment: str) -> str:
    """The streaming function's name, for its FunctionName dimension off Lambda."""
    return resource_name(environment, "sse-streaming")
