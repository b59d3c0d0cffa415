"""Typed stack configuration: every knob of ``Pulumi.<stack>.yaml``, validated with a clear message."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi

from contract.alarms import DEFAULT_LATENCY_FRACTION
from contract.cost import BUDGET_THRESHOLDS_USD

PROJECT = "sentiment-analyzer"


@dataclass(frozen=True)
class StackSettings:
    environment: str
    region: str
    second_region: str
    alarm_email: str
    sampling_mode: str                  # "full" (dev/preprod, 100%) or "production" (D9 rates)
    budget_thresholds_usd: tuple[float, ...]
    powertools_layer_arn: str
    sse_image_version: str
    lambda_web_adapter_image: str       # pinned by digest in the SSE image build (D1)
    adot_collector_layer_version: str
    default_tickers: str
    cors_allow_origins: tuple[str, ...]
    sse_reserved_concurrency: int
    latency_fraction: float
    canary_batch_size: int
    out_of_band_webhooks: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{1,11}", self.environment):
            raise ValueError(f"environment {self.environment!r}: 2-12 lowercase letters/digits (it prefixes every name)")
        if self.sampling_mode not in ("full", "production"):
            raise ValueError(f"samplingMode {self.sampling_mode!r}: use 'full' or 'production'")
        if f":lambda:{self.region}:" not in self.powertools_layer_arn:
            raise ValueError(f"powertoolsLayerArn must be the layer of region {self.region}, got {self.powertools_layer_arn}")


def load() -> StackSettings:
    cfg = pulumi.Config()
    aws_cfg = pulumi.Config("aws")
    return StackSettings(
        environment=cfg.require("environment"),
        region=aws_cfg.require("region"),
        second_region=cfg.require("secondRegion"),
        alarm_email=cfg.require("alarmEmail"),
        sampling_mode=cfg.get("samplingMode") or "production",
        budget_thresholds_usd=tuple(float(x) for x in (cfg.get_object("budgetThresholdsUsd") or BUDGET_THRESHOLDS_USD)),
        powertools_layer_arn=cfg.require("powertoolsLayerArn"),
        sse_image_version=cfg.require("sseImageVersion"),
        lambda_web_adapter_image=cfg.require("lambdaWebAdapterImage"),
        adot_collector_layer_version=cfg.require("adotCollectorLayerVersion"),
        default_tickers=cfg.get("defaultTickers") or "AAPL,MSFT,GOOGL,AMZN,NVDA",
        cors_allow_origins=tuple(cfg.get_object("corsAllowOrigins") or ["*"]),
        sse_reserved_concurrency=cfg.get_int("sseReservedConcurrency") or 25,
        latency_fraction=cfg.get_float("latencyFraction") or DEFAULT_LATENCY_FRACTION,
        canary_batch_size=cfg.get_int("canaryBatchSize") or 5,
        out_of_band_webhooks=tuple(cfg.get_object("outOfBandWebhooks") or []),
    )
