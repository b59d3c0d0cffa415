"""The sentiment analyzer stack: reads the stack's settings and wires the components (DESIGN §2).

No resource logic lives here: what a traced function, an alarm or a sampling rule *is* belongs to
``components/``; this file says which ones the system has and how they connect.
"""
from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

import settings
from components.alarms import (AlarmSet, AlarmSetArgs, CriticalComposite, CriticalCompositeArgs, app_metric_specs,
                               cost_specs, xray_group_specs)
from components.alerting import AlertChannels, AlertChannelsArgs
from components.api import DashboardApi, DashboardApiArgs
from components.canary import Canary, CanaryArgs
from components.cost import CostGuard, CostGuardArgs
from components.dashboard import MonitoredAlarm, OperationsDashboard, OperationsDashboardArgs
from components.data import AppSecrets, AppSecretsArgs, DataTables, DataTablesArgs, TracedTopic, TracedTopicArgs
from components.iam import Statement
from components.sampling import XRaySampling, XRaySamplingArgs, sampling_rules, trace_groups
from contract.data import TABLES
from contract.metrics import APP_NAMESPACE, INGESTION_NAMESPACE, SILENT_FAILURE_NAMESPACE, SSE_NAMESPACE
                               FAILURE_PATH_OWNER)
from components.streaming_lambda import ImageSource, StreamingTracedLambda, StreamingTracedLambdaArgs
from components.traced_lambda import AlarmOptions, TracedLambda, TracedLambdaArgs

ROOT = Path(__file__).absolute().parent
HANDLERS = ROOT / "handlers"

cfg = settings.load()
env = cfg.environment
tags = {"project": settings.PROJECT, "environment": env, "managed-by": "pulumi"}
caller = aws.get_caller_identity_output()

channels = AlertChannels("alerts", AlertChannelsArgs(
    environment=env, alarm_email=cfg.alarm_email, second_region=cfg.second_region, primary_region=cfg.region,
    webhook_urls=cfg.out_of_band_webhooks, tags=tags))
topic_arn = channels.alarm_topic.arn
data = DataTables("data", DataTablesArgs(environment=env, tables=TABLES, tags=tags))
secrets = AppSecrets("secrets", AppSecretsArgs(environment=env, names=("news-api", "sendgrid"), tags=tags))
app_alarms = app_metric_specs(env)


def metrics_put(namespace: str) -> Statement:
    """PutMetricData has no resource ARNs; the namespace condition is its least privilege."""
    return Statement(["cloudwatch:PutMetricData"], ["*"], condition={"StringEquals": {"cloudwatch:namespace": namespace}})


def traced(function: str, *, memory_mb: int, timeout_seconds: int, statements: list[Statement],
           env_vars: dict, alarms: AlarmOptions | None = None, **kwargs) -> TracedLambda:
    return TracedLambda(function, TracedLambdaArgs(
        environment=env, function=function, code_dir=HANDLERS / function, common_dir=HANDLERS / "common",
        vendored_dir=ROOT / "build" / function, alarm_topic_arn=topic_arn,
        powertools_layer_arn=cfg.powertools_layer_arn, memory_mb=memory_mb, timeout_seconds=timeout_seconds,
        statements=statements, env_vars=env_vars, tags=tags,
        alarms=alarms or AlarmOptions(latency_fraction=cfg.latency_fraction), **kwargs))


def owned_paths(function: str) -> list[str]:
    return [p for p, owner in FAILURE_PATH_OWNER.items() if owner == function]


silent = [Statement(["cloudwatch:PutMetricData"], ["*"],
                    condition={"StringEquals": {"cloudwatch:namespace": SILENT_FAILURE_NAMESPACE}})]
items_rw = Statement(["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                      "dynamodb:Query"],
                     data.arns("items"))

# -- the pipeline: notification <- SNS <- ingestion -> SNS -> analysis ------------------------------
notification = traced(
    "notification", memory_mb=256, timeout_seconds=30, dead_letter_queue=True,
    statements=[Statement(["dynamodb:GetItem", "dynamodb:Query"], data.arns("users")),
                Statement(["secretsmanager:GetSecretValue"], [secrets.secrets["sendgrid"].arn])],
    env_vars={"USERS_TABLE": data.tables["users"].name, "SENDGRID_SECRET_ARN": secrets.secrets["sendgrid"].arn,
              "SENDGRID_BASE_URL": "https://api.sendgrid.com", "ALERT_FROM_EMAIL": f"alerts@{env}.sentiment.example.com"})
analysis = traced(
    "analysis", memory_mb=512, timeout_seconds=60, dead_letter_queue=True,
    statements=[items_rw, Statement(["dynamodb:UpdateItem"], data.arns("timeseries")),
                metrics_put(APP_NAMESPACE), *silent],
    env_vars={"ITEMS_TABLE": data.tables["items"].name, "TIMESERIES_TABLE": data.tables["timeseries"].name},
    alarms=AlarmOptions(latency_fraction=cfg.latency_fraction, failure_paths=owned_paths("analysis"),
                        metric_fallback_period_seconds=3600, extra=app_alarms["analysis"]))
analysis_topic = TracedTopic("analysis-requests", TracedTopicArgs(
    topic_name=f"{env}-sentiment-analysis-requests", subscriber_function_arn=analysis.function.arn,
    subscriber_function_name=analysis.function.name, tags=tags))
notification_topic = TracedTopic("notifications", TracedTopicArgs(
    topic_name=f"{env}-sentiment-notifications", subscriber_function_arn=notification.function.arn,
    subscriber_function_name=notification.function.name, tags=tags))
ingestion = traced(
    "ingestion", memory_mb=512, timeout_seconds=60, schedule_expression="rate(5 minutes)", dead_letter_queue=True,
    statements=[items_rw, Statement(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], data.arns("users")),
                Statement(["sns:Publish"], [analysis_topic.topic.arn, notification_topic.topic.arn]),
                Statement(["secretsmanager:GetSecretValue"], [secrets.secrets["news-api"].arn]),
                metrics_put(INGESTION_NAMESPACE), *silent],
    env_vars={"ITEMS_TABLE": data.tables["items"].name, "USERS_TABLE": data.tables["users"].name,
              "ANALYSIS_TOPIC_ARN": analysis_topic.topic.arn, "NOTIFICATION_TOPIC_ARN": notification_topic.topic.arn,
              "NEWS_API_SECRET_ARN": secrets.secrets["news-api"].arn,
              "TIINGO_BASE_URL": "https://api.tiingo.com", "FINNHUB_BASE_URL": "https://finnhub.io/api/v1",
              "DEFAULT_TICKERS": cfg.default_tickers},
    alarms=AlarmOptions(latency_fraction=cfg.latency_fraction, failure_paths=owned_paths("ingestion"),
                        metric_fallback_period_seconds=600, extra=app_alarms["ingestion"]))
metrics = traced(
    "metrics", memory_mb=128, timeout_seconds=30, schedule_expression="rate(1 minute)", dead_letter_queue=True,
    statements=[Statement(["dynamodb:Query"], data.arns("items")), metrics_put(APP_NAMESPACE)],
    env_vars={"ITEMS_TABLE": data.tables["items"].name},
    alarms=AlarmOptions(latency_fraction=cfg.latency_fraction, extra=app_alarms["metrics"]))
dashboard_fn = traced(
    "dashboard", memory_mb=512, timeout_seconds=30,
    statements=[Statement(["dynamodb:GetItem", "dynamodb:Query"], data.arns("items", "users", "timeseries"))],
    env_vars={"ITEMS_TABLE": data.tables["items"].name, "USERS_TABLE": data.tables["users"].name,
              "TIMESERIES_TABLE": data.tables["timeseries"].name})
api = DashboardApi("api", DashboardApiArgs(
    environment=env, function_name=dashboard_fn.function.name, function_invoke_arn=dashboard_fn.function.invoke_arn,
    alarm_topic_arn=topic_arn, allow_origin=cfg.cors_allow_origins[0], tags=tags))

# -- streaming -------------------------------------------------------------------------------------
sse = StreamingTracedLambda("sse-streaming", StreamingTracedLambdaArgs(
    environment=env, function="sse-streaming", alarm_topic_arn=topic_arn,
    image=ImageSource(context_dir=HANDLERS / "sse", dockerfile=HANDLERS / "sse" / "Dockerfile",
                      version=cfg.sse_image_version,
                      build_args={"LAMBDA_WEB_ADAPTER_IMAGE": cfg.lambda_web_adapter_image,
                                  "ADOT_COLLECTOR_VERSION": cfg.adot_collector_layer_version}),
    reserved_concurrency=cfg.sse_reserved_concurrency, cors_allow_origins=cfg.cors_allow_origins,
    statements=[Statement(["dynamodb:Query", "dynamodb:GetItem"], data.arns("items", "users")),
                metrics_put(SSE_NAMESPACE)],
    env_vars={"ITEMS_TABLE": data.tables["items"].name, "USERS_TABLE": data.tables["users"].name},
    tags=tags))

# -- watching the watchers -------------------------------------------------------------------------
canary = Canary("canary", CanaryArgs(
    environment=env, code_dir=HANDLERS / "canary", common_dir=HANDLERS / "common",
    powertools_layer_arn=cfg.powertools_layer_arn, alarm_topic_arn=topic_arn,
    out_of_band_topic_arn=channels.out_of_band_topic.arn, health_url=pulumi.Output.concat(api.url, "/health"),
    batch_size=cfg.canary_batch_size, tags=tags))
rules, groups = sampling_rules(env, cfg.sampling_mode), trace_groups(env)
sampling = XRaySampling("xray", XRaySamplingArgs(rules=rules, groups=groups, tags=tags))
group = {g.name.removeprefix(f"{env}-"): g.name for g in groups}
system_specs = xray_group_specs(group["sentiment-errors"], group["sentiment-sse"], group["sse-reconnections"])
if cfg.region == "us-east-1":  # billing metrics exist only there
    system_specs += cost_specs("AWSXRay", max(cfg.budget_thresholds_usd))
system_alarms = AlarmSet("system-alarms", AlarmSetArgs(prefix=f"{env}-sentiment", alarm_topic_arn=topic_arn,
                                                        specs=system_specs, tags=tags),
                         opts=pulumi.ResourceOptions(depends_on=[sampling]))
CostGuard("xray-budget", CostGuardArgs(name=f"{env}-sentiment-xray", alarm_topic_arn=topic_arn,
                                       thresholds_usd=cfg.budget_thresholds_usd, tags=tags))

alarm_sets = [*(f.alarm_set for f in (ingestion, analysis, dashboard_fn, metrics, notification, sse, canary.traced)),
              api.alarm_set, system_alarms]
critical = CriticalComposite("critical", CriticalCompositeArgs(
    name=f"{env}-sentiment-critical", alarm_topic_arn=topic_arn,
    members=[a for s in alarm_sets for a in s.critical()]))
monitored = [MonitoredAlarm(a.name, s.specs[k].severity, a) for s in alarm_sets for k, a in s.alarms.items()]
monitored.append(MonitoredAlarm(critical.alarm.alarm_name, "CRITICAL", critical.alarm))
dashboard = OperationsDashboard("operations", OperationsDashboardArgs(
    dashboard_name=f"{env}-sentiment-operations", region=cfg.region, account_id=caller.account_id, alarms=monitored,
    buffered_functions=[f.function.name for f in (ingestion, analysis, dashboard_fn, metrics, notification,
                                                  canary.traced)],
    streaming_functions=[sse.function.name], tags=tags))

pulumi.export("apiUrl", api.url)
pulumi.export("sseUrl", sse.function_url.function_url)
pulumi.export("dashboardName", dashboard.dashboard.dashboard_name)
pulumi.export("alarmNames", [m.name for m in monitored])
