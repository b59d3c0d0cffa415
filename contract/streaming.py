"""The streaming (SSE) function's contract: its OpenTelemetry and Lambda Web Adapter environment, its CORS.

The component sets exactly ``otel_environment(...)`` on the function, the app refuses to start when its
environment breaks these rules, and the policy pack's ``streaming-otel-config`` accepts what ``ACCEPTED``
lists, so the three read one definition (decisions D1-D3 in docs/decisions.md).
"""
from __future__ import annotations

from collections.abc import Mapping

#: The logical function name and its service name (logs, traces, the service map's node).
FUNCTION = "sse-streaming"
SERVICE_NAME = "sentiment-sse"

#: The OTLP/HTTP endpoint of the ADOT collector extension inside the sandbox.
COLLECTOR_ENDPOINT = "http://localhost:4318"
COLLECTOR_ENDPOINTS: tuple[str, ...] = (COLLECTOR_ENDPOINT, "http://127.0.0.1:4318")
COLLECTOR_CONFIG_FILE = "/opt/collector-config/config.yaml"
#: Only the X-Ray propagator: a W3C ``traceparent`` must never win over the Lambda trace header.
PROPAGATOR = "xray-lambda"
#: ``Sampled=0`` upstream exports nothing; ``Sampled=1`` everything (no orphan spans).
SAMPLER = "parentbased_always_on"
PROTOCOL = "http/protobuf"
#: Seconds. Bounds the flush at the end of a stream when the collector is dead (the SDK's force_flush
#: ignores its own timeout, so only the exporter's bounds it).
EXPORTER_TIMEOUT_S = 2
#: The stream flushes when less than this remains of the invocation: the flush must end inside it.
DEADLINE_MARGIN_S = 3.0
#: So no exporter timeout may reach the margin (the policy pack and the app refuse more).
MAX_EXPORTER_TIMEOUT_S = EXPORTER_TIMEOUT_S
BSP_SCHEDULE_DELAY_MS = 1000
BSP_MAX_EXPORT_BATCH_SIZE = 64
BSP_MAX_QUEUE_SIZE = 1500
#: The kill switch: the SDK's own variable; only the value ``true`` (any case) disables tracing.
SDK_DISABLED_VAR = "OTEL_SDK_DISABLED"
#: Never on a streaming function: the ADOT wrapper would wrap the handler and botocore a second time.
EXEC_WRAPPER_VAR = "AWS_LAMBDA_EXEC_WRAPPER"
#: Variables that name the service; they must agree so the service map shows one node.
SERVICE_NAME_VARS: tuple[str, ...] = ("OTEL_SERVICE_NAME", "POWERTOOLS_SERVICE_NAME")

#: The Lambda Web Adapter: where the app listens, its readiness check, and response streaming.
APP_PORT = 8080
READINESS_PATH = "/health"
INVOKE_MODE = "response_stream"
#: The adapter's header with the invocation's context (the deadline comes from it).
LAMBDA_CONTEXT_HEADER = "x-amzn-lambda-context"
#: Off Lambda, the deadline can be given as epoch milliseconds in this variable.
DEADLINE_ENV = "_LAMBDA_DEADLINE_MS"

#: What ``streaming-otel-config`` accepts by default, variable by variable.
ACCEPTED: Mapping[str, tuple[str, ...]] = {
    "OTEL_PROPAGATORS": (PROPAGATOR,),
    "OTEL_TRACES_SAMPLER": (SAMPLER,),
    "OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR_ENDPOINTS,
    "OTEL_EXPORTER_OTLP_PROTOCOL": (PROTOCOL,),
}

#: CORS of the Function URL. Lambda answers preflights itself from the URL's ``cors`` block.
#: Request headers a browser client may send: the trace header, replay, the bearer token, content-type.
CORS_ALLOW_HEADERS: tuple[str, ...] = ("authorization", "content-type", "last-event-id", "x-amzn-trace-id")
#: Response headers a browser may read: the trace id.
CORS_EXPOSE_HEADERS: tuple[str, ...] = ("x-amzn-trace-id",)
CORS_ALLOW_METHODS: tuple[str, ...] = ("GET",)
CORS_MAX_AGE_SECONDS = 7200


def otel_environment(service_name: str = SERVICE_NAME) -> dict[str, str]:
    """The environment the streaming function gets: OpenTelemetry per D2/D3 and the Web Adapter per D1."""
    return {
        "POWERTOOLS_SERVICE_NAME": service_name,
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_PROPAGATORS": PROPAGATOR,
        "OTEL_TRACES_SAMPLER": SAMPLER,
        "OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR_ENDPOINT,
        "OTEL_EXPORTER_OTLP_PROTOCOL": PROTOCOL,
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": str(EXPORTER_TIMEOUT_S),
        "OTEL_BSP_SCHEDULE_DELAY": str(BSP_SCHEDULE_DELAY_MS),
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": str(BSP_MAX_EXPORT_BATCH_SIZE),
        "OTEL_BSP_MAX_QUEUE_SIZE": str(BSP_MAX_QUEUE_SIZE),
        # Current collectors read the _URI name, older builds the _FILE one: both, so the config is found by
        # name and not only because it sits at the collector's default path (docs/aws-facts.md HDR-14).
        "OPENTELEMETRY_COLLECTOR_CONFIG_URI": COLLECTOR_CONFIG_FILE,
        "OPENTELEMETRY_COLLECTOR_CONFIG_FILE": COLLECTOR_CONFIG_FILE,
        "AWS_LWA_INVOKE_MODE": INVOKE_MODE,
        "AWS_LWA_READINESS_CHECK_PATH": READINESS_PATH,
        "AWS_LWA_PORT": str(APP_PORT),
    }
