"""The environment variables the program sets on each function and the handlers read (fail-fast).

``REQUIRED[function]`` is what a handler refuses to start without; the program sets at least those (a test
of the stack checks every function against this table), and handlers call ``require_env(*REQUIRED[...])``.
Table variables come from the data contract (``TableSchema.env_var``).
"""
from __future__ import annotations

from collections.abc import Mapping

from contract.data import ITEMS, TIMESERIES, USERS

ENVIRONMENT = "ENVIRONMENT"
ITEMS_TABLE = ITEMS.env_var
USERS_TABLE = USERS.env_var
TIMESERIES_TABLE = TIMESERIES.env_var
# ingestion
ANALYSIS_TOPIC_ARN = "ANALYSIS_TOPIC_ARN"
NOTIFICATION_TOPIC_ARN = "NOTIFICATION_TOPIC_ARN"
NEWS_API_SECRET_ARN = "NEWS_API_SECRET_ARN"
TIINGO_BASE_URL = "TIINGO_BASE_URL"
FINNHUB_BASE_URL = "FINNHUB_BASE_URL"
DEFAULT_TICKERS = "DEFAULT_TICKERS"
# notification
SENDGRID_SECRET_ARN = "SENDGRID_SECRET_ARN"
SENDGRID_BASE_URL = "SENDGRID_BASE_URL"
ALERT_FROM_EMAIL = "ALERT_FROM_EMAIL"
# streaming
SSE_MAX_CONNECTIONS = "SSE_MAX_CONNECTIONS"
SSE_POLL_INTERVAL_SECONDS = "SSE_POLL_INTERVAL_SECONDS"
SSE_HEARTBEAT_SECONDS = "SSE_HEARTBEAT_SECONDS"
# canary
CANARY_NAMESPACE = "CANARY_NAMESPACE"
CANARY_STATE_PARAMETER = "CANARY_STATE_PARAMETER"
OUT_OF_BAND_TOPIC_ARN = "OUT_OF_BAND_TOPIC_ARN"
CANARY_BATCH_SIZE = "CANARY_BATCH_SIZE"
CANARY_HEALTH_URL = "CANARY_HEALTH_URL"
# authentication and CORS (dashboard, sse-streaming)
CORS_ALLOW_ORIGINS = "CORS_ALLOW_ORIGINS"        # comma-separated origins
COGNITO_ISSUER = "COGNITO_ISSUER"                # https://cognito-idp.<region>.amazonaws.com/<pool id>
COGNITO_CLIENT_ID = "COGNITO_CLIENT_ID"
# every buffered function (set by TracedLambda)
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_TRACER_CAPTURE_RESPONSE = "POWERTOOLS_TRACER_CAPTURE_RESPONSE"
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
# set by the Lambda runtime, not the program: the function's name (the ``FunctionName`` metric dimension)
LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"

#: What each handler requires at start. Optional variables (base URLs with defaults, the canary's health
#: URL) are set by the program but not listed here.
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "ingestion": (ENVIRONMENT, ITEMS_TABLE, USERS_TABLE, ANALYSIS_TOPIC_ARN, NOTIFICATION_TOPIC_ARN,
                  NEWS_API_SECRET_ARN, TIINGO_BASE_URL, FINNHUB_BASE_URL, DEFAULT_TICKERS),
    "analysis": (ENVIRONMENT, ITEMS_TABLE, TIMESERIES_TABLE),
    "dashboard": (ENVIRONMENT, ITEMS_TABLE, USERS_TABLE, TIMESERIES_TABLE, CORS_ALLOW_ORIGINS),
    "metrics": (ENVIRONMENT, ITEMS_TABLE),
    "notification": (ENVIRONMENT, USERS_TABLE, SENDGRID_SECRET_ARN, ALERT_FROM_EMAIL),
    # COGNITO_*: the configuration stream verifies the bearer JWT against that pool and app client (D16)
    "sse-streaming": (ITEMS_TABLE, USERS_TABLE, COGNITO_ISSUER, COGNITO_CLIENT_ID),
    "canary": (ENVIRONMENT, CANARY_NAMESPACE, CANARY_STATE_PARAMETER, OUT_OF_BAND_TOPIC_ARN, CANARY_BATCH_SIZE),
}
