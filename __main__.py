"""The sentiment analyzer stack: reads the stack's settings and wires the components (docs/architecture.md).

No resource logic lives here: what a traced function, an alarm or a sampling rule *is* belongs to
``components/``, and the rules they share to ``contract/``; this file says which ones the system has and
how they connect. Monitoring is a registry: every component that makes alarms registers them there, and
``monitoring.finish`` builds the CRITICAL composite and the operations dashboard from it.
"""
from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

import settings
from components.alarms import app_metric_specs, cost_specs, xray_group_specs
from components.alerting import AlertChannels, AlertChannelsArgs
from components.api import DashboardApi, DashboardApiArgs
from components.auth import UserDirectory, UserDirectoryArgs
from components.canary import Canary, CanaryArgs
from components.cost import CostGuard, CostGuardArgs
from components.data import AppSecrets, AppSecretsArgs, DataTables, DataTablesArgs, TracedTopic, TracedTopicArgs
from components.iam import Statement
from components.monitoring import Monitoring, MonitoringDefaults
from components.sampling import (
    TracedTopicsGrant,
    XRaySampling,
    XRaySamplingArgs,
    sampling_rules,
    trace_group_names,
    trace_groups,
)
from components.streaming_lambda import ImageSource, StreamingTracedLambda, StreamingTracedLambdaArgs
from components.traced_lambda import AlarmOptions, TracedLambda, TracedLambdaArgs
from contract import env as E
from contract import streaming
from contract.cost import XRAY_BILLING_SERVICE
from contract.data import FAILURE_PATH_OWNER, TABLES
from contract.metrics import APP_NAMESPACE, INGESTION_NAMESPACE, SILENT_FAILURE_NAMESPACE, SSE_NAMESPACE
from contract.naming import prefix, resource_name

ROOT = Path(__file__).absolute().parent
HANDLERS = ROOT / "handlers"

cfg = settings.load()
env = cfg.environment
tags = {"project": settings.PROJECT, "environment": env, "managed-by": "pulumi"}
caller = aws.get_caller_identity_output()

channels = AlertChannels("alerts", AlertChannelsArgs(
    environment=env, alarm_email=cfg.alarm_email, second_region=cfg.second_region, primary_region=cfg.region,
    account_id=caller.account_id,
    webhook_urls=cfg.out_of_band_webhooks, tags=tags))
monitoring = Monitoring(MonitoringDefaults(environment=env, alarm_topic_arn=channels.alarm_topic.arn,
                                            latency_fraction=cfg.latency_fraction, tags=tags))
data = DataTables("data", DataTablesArgs(environment=env, tables=TABLES, tags=tags))
users = UserDirectory("users", UserDirectoryArgs(environment=env, region=cfg.region, tags=tags))
origins = ",".join(cfg.cors_allow_origins)
secrets = AppSecrets("secrets", AppSecretsArgs(environment=env, names=("news-api", "sendgrid"), tags=tags))
app_alarms = app_metric_specs(env)


def metrics_put(namespace: str) -> Statement:
    """PutMetricData has no resource ARNs; the namespace condition is its least privilege."""
    return Statement(["cloudwatch:PutMetricData"], ["*"], condition={"StringEquals": {"cloudwatch:namespace": namespace}})


def traced(function: str, *, memory_mb: int, timeout_seconds: int, statements: list[Statement],
           env_vars: dict, alarms: AlarmOptions | None = None, **kwargs) -> TracedLambda:
    """A buffered function of this repository: its handler directory, ``common`` and vendored deps."""
    return TracedLambda(function, TracedLambdaArgs(
        environment=env, function=function, code_dir=HANDLERS / function, common_dir=HANDLERS / "common",
        vendored_dir=ROOT / "build" / function, monitoring=monitoring,
        powertools_layer_arn=cfg.powertools_layer_arn, memory_mb=memory_mb, timeout_seconds=timeout_seconds,
        statements=statements, env_vars=env_vars, tags=tags,
        alarms=alarms or AlarmOptions(), **kwargs))


def owned_paths(function: str) -> list[str]:
    return [p for p, owner in FAILURE_PATH_OWNER.items() if owner == function]


silent = [metrics_put(SILENT_FAILURE_NAMESPACE)]
items_rw = Statement(["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                      "dynamodb:Query"],
                     data.arns("items"))

# -- the pipeline: notification <- SNS <- ingestion -> SNS -> analysis ------------------------------
notification = traced(
    "notification", memory_mb=256, timeout_seconds=30, dead_letter_queue=True,
    statements=[Statement(["dynamodb:GetItem", "dynamodb:Query"], data.arns("users")),
                Statement(["secretsmanager:GetSecretValue"], [secrets.secrets["sendgrid"].arn])],
    env_vars={E.USERS_TABLE: data.tables["users"].name, E.SENDGRID_SECRET_ARN: secrets.secrets["sendgrid"].arn,
              E.SENDGRID_BASE_URL: "https://api.sendgrid.com", E.ALERT_FROM_EMAIL: f"alerts@{env}.sentiment.example.com"})
analysis = traced(
    "analysis", memory_mb=512, timeout_seconds=60, dead_letter_queue=True,
    statements=[items_rw, Statement(["dynamodb:UpdateItem"], data.arns("timeseries")),
                metrics_put(APP_NAMESPACE), *silent],
    env_vars={E.ITEMS_TABLE: data.tables["items"].name, E.TIMESERIES_TABLE: data.tables["timeseries"].name},
    alarms=AlarmOptions(failure_paths=owned_paths("analysis"),
                        metric_fallback_period_seconds=3600, extra=app_alarms["analysis"]))
analysis_topic = TracedTopic("analysis-requests", TracedTopicArgs(
    topic_name=resource_name(env, "analysis-requests"), subscriber_function_arn=analysis.function.arn,
    subscriber_function_name=analysis.function.name, monitoring=monitoring, tags=tags))
notification_topic = TracedTopic("notifications", TracedTopicArgs(
    topic_name=resource_name(env, "notifications"), subscriber_function_arn=notification.function.arn,
    subscriber_function_name=notification.function.name, monitoring=monitoring, tags=tags))
ingestion = traced(
    "ingestion", memory_mb=512, timeout_seconds=60, schedule_expression="rate(5 minutes)", dead_letter_queue=True,
    statements=[items_rw, Statement(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
                                    data.arns("users")),
                Statement(["sns:Publish"], [analysis_topic.topic.arn, notification_topic.topic.arn]),
                Statement(["secretsmanager:GetSecretValue"], [secrets.secrets["news-api"].arn]),
                metrics_put(INGESTION_NAMESPACE), *silent],
    env_vars={E.ITEMS_TABLE: data.tables["items"].name, E.USERS_TABLE: data.tables["users"].name,
              E.ANALYSIS_TOPIC_ARN: analysis_topic.topic.arn, E.NOTIFICATION_TOPIC_ARN: notification_topic.topic.arn,
              E.NEWS_API_SECRET_ARN: secrets.secrets["news-api"].arn,
              E.TIINGO_BASE_URL: "https://api.tiingo.com", E.FINNHUB_BASE_URL: "https://finnhub.io/api/v1",
              E.DEFAULT_TICKERS: cfg.default_tickers},
    alarms=AlarmOptions(failure_paths=owned_paths("ingestion"),
                        metric_fallback_period_seconds=600, extra=app_alarms["ingestion"]))
metrics = traced(
    "metrics", memory_mb=128, timeout_seconds=30, schedule_expression="rate(1 minute)", dead_letter_queue=True,
    statements=[Statement(["dynamodb:Query"], data.arns("items")), metrics_put(APP_NAMESPACE)],
    env_vars={E.ITEMS_TABLE: data.tables["items"].name},
    alarms=AlarmOptions(extra=app_alarms["metrics"]))
dashboard_fn = traced(
    "dashboard", memory_mb=512, timeout_seconds=30,
    statements=[Statement(["dynamodb:GetItem", "dynamodb:Query"], data.arns("items", "users", "timeseries"))],
    env_vars={E.ITEMS_TABLE: data.tables["items"].name, E.USERS_TABLE: data.tables["users"].name,
              E.TIMESERIES_TABLE: data.tables["timeseries"].name, E.CORS_ALLOW_ORIGINS: origins})
api = DashboardApi("api", DashboardApiArgs(
    environment=env, function_name=dashboard_fn.function.name, function_invoke_arn=dashboard_fn.function.invoke_arn,
    monitoring=monitoring, allow_origins=cfg.cors_allow_origins, user_pool_arn=users.pool.arn, tags=tags))

# -- streaming -------------------------------------------------------------------------------------
sse = StreamingTracedLambda("sse-streaming", StreamingTracedLambdaArgs(
    environment=env, function=streaming.FUNCTION, monitoring=monitoring,
    image=ImageSource(context_dir=ROOT, dockerfile=HANDLERS / "sse" / "Dockerfile",  # the image carries contract/
                      version=cfg.sse_image_version,
                      build_args={"LAMBDA_WEB_ADAPTER_IMAGE": cfg.lambda_web_adapter_image,
                                  "ADOT_COLLECTOR_VERSION": cfg.adot_collector_layer_version}),
    reserved_concurrency=cfg.sse_reserved_concurrency, cors_allow_origins=cfg.cors_allow_origins,
    statements=[Statement(["dynamodb:Query", "dynamodb:GetItem"], data.arns("items", "users")),
                metrics_put(SSE_NAMESPACE)],
    env_vars={E.ITEMS_TABLE: data.tables["items"].name, E.USERS_TABLE: data.tables["users"].name,
              E.COGNITO_ISSUER: users.issuer, E.COGNITO_CLIENT_ID: users.client.id},
    tags=tags))

# -- watching the watchers -------------------------------------------------------------------------
canary = Canary("canary", CanaryArgs(
    environment=env, code_dir=HANDLERS / "canary", common_dir=HANDLERS / "common",
    powertools_layer_arn=cfg.powertools_layer_arn, monitoring=monitoring,
    out_of_band_topic_arn=channels.out_of_band_topic.arn, health_url=pulumi.Output.concat(api.url, "/health"),
    batch_size=cfg.canary_batch_size, tags=tags))
rules, groups = sampling_rules(env, cfg.sampling_mode), trace_groups(env)
sampling = XRaySampling("xray", XRaySamplingArgs(rules=rules, groups=groups, tags=tags, traced_topics=TracedTopicsGrant(
    account_id=caller.account_id, policy_name=resource_name(env, "sns-tracing"),
    topic_arn_pattern=pulumi.Output.concat("arn:aws:sns:", cfg.region, ":", caller.account_id, ":", prefix(env), "-*"))))
group = trace_group_names(env)
system_specs = xray_group_specs(group["errors"], group["sse"], group["sse-reconnections"])
if cfg.region == "us-east-1":  # billing metrics exist only there
    system_specs += cost_specs(XRAY_BILLING_SERVICE, max(cfg.budget_thresholds_usd))
monitoring.alarm_set("system-alarms", prefix(env), system_specs,
                     opts=pulumi.ResourceOptions(depends_on=[sampling]))
CostGuard("xray-budget", CostGuardArgs(name=resource_name(env, "xray"), alarm_topic_arn=channels.alarm_topic.arn,
                                       thresholds_usd=cfg.budget_thresholds_usd, tags=tags))

monitored = monitoring.finish(region=cfg.region, account_id=caller.account_id)

pulumi.export("apiUrl", api.url)
pulumi.export("sseUrl", sse.function_url.function_url)
pulumi.export("userPoolId", users.pool.id)
pulumi.export("userPoolClientId", users.client.id)
pulumi.export("dashboardName", monitored.dashboard.dashboard.dashboard_name)
pulumi.export("alarmNames", [a.name for a in monitored.alarms])
