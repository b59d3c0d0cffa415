"""Typed stack configuration: every knob of ``Pulumi.<stack>.yaml``, validated with a clear message.

A value that is absent takes its default; a value that is present is used as given and checked, so a zero or
an empty list is an error that says what to change, never a silent fallback to the default.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeVar

import pulumi

from contract.alarms import DEFAULT_LATENCY_FRACTION, LATENCY_BAND
from contract.cost import BUDGET_THRESHOLDS_USD

PROJECT = "sentiment-analyzer"
T = TypeVar("T")


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
        self._check_origins()
        if self.sse_reserved_concurrency < 1:
            raise ValueError(f"sseReservedConcurrency must be at least 1 (it bounds how many streams, and so how many "
                             f"client-forced traces, can run), got {self.sse_reserved_concurrency}")
        if not 1 <= self.canary_batch_size <= 50:
            raise ValueError(f"canaryBatchSize must be 1..50 synthetic traces per run, got {self.canary_batch_size}")
        low, high = LATENCY_BAND
        if not low <= self.latency_fraction <= high:
            raise ValueError(f"latencyFraction must be between {low} and {high} of each timeout, got {self.latency_fraction}")
        if not self.budget_thresholds_usd or any(t <= 0 for t in self.budget_thresholds_usd):
            raise ValueError(f"budgetThresholdsUsd must list positive amounts, got {list(self.budget_thresholds_usd)}")

    def _check_origins(self) -> None:
        """CORS fails closed: the browser origins that may call the APIs are listed, never implied."""
        if not self.cors_allow_origins:
            raise ValueError("corsAllowOrigins is empty: list the origins of the web client "
                             '(e.g. ["https://app.example.com"]); an empty list would allow none or, worse, every one')
        for origin in self.cors_allow_origins:
            if origin == "*" or not re.fullmatch(r"https://[a-z0-9.-]+(:\d+)?|http://(localhost|127\.0\.0\.1)(:\d+)?",
                                                 origin):
                raise ValueError(f"corsAllowOrigins: {origin!r} is not an origin; use https://host[:port] "
                                 "(http:// only for localhost), and never '*': the APIs accept a bearer token")


def _given(value: T | None, default: T) -> T:
    """The configured value when the key is present (even 0 or []), else the default."""
    return default if value is None else value


def load() -> StackSettings:
    cfg = pulumi.Config()
    aws_cfg = pulumi.Config("aws")
    return StackSettings(
        environment=cfg.require("environment"),
        region=aws_cfg.require("region"),
        second_region=cfg.require("secondRegion"),
        alarm_email=cfg.require("alarmEmail"),
        sampling_mode=cfg.get("samplingMode") or "production",
        budget_thresholds_usd=tuple(float(x) for x in _given(cfg.get_object("budgetThresholdsUsd"), BUDGET_THRESHOLDS_USD)),
        powertools_layer_arn=cfg.require("powertoolsLayerArn"),
        sse_image_version=cfg.require("sseImageVersion"),
        lambda_web_adapter_image=cfg.require("lambdaWebAdapterImage"),
        adot_collector_layer_version=cfg.require("adotCollectorLayerVersion"),
        default_tickers=cfg.get("defaultTickers") or "AAPL,MSFT,GOOGL,AMZN,NVDA",
        cors_allow_origins=tuple(cfg.require_object("corsAllowOrigins")),
        sse_reserved_concurrency=_given(cfg.get_int("sseReservedConcurrency"), 25),
        latency_fraction=_given(cfg.get_float("latencyFraction"), DEFAULT_LATENCY_FRACTION),
        canary_batch_size=_given(cfg.get_int("canaryBatchSize"), 5),
        out_of_band_webhooks=tuple(cfg.get_object("outOfBandWebhooks") or []),
    )
