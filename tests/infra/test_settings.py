"""Stack settings fail closed: a present value is used and checked; only an absent one takes its default."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

import settings
from offline.program import run_program
from tests.infra.conftest import REPO

PROD = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]


def _base() -> settings.StackSettings:
    return settings.StackSettings(
        environment="prod", region="us-east-1", second_region="us-west-2", alarm_email="a@example.com",
        sampling_mode="production", budget_thresholds_usd=(10.0,),
        powertools_layer_arn="arn:aws:lambda:us-east-1:017000801446:layer:P:1", sse_image_version="1",
        lambda_web_adapter_image="x", adot_collector_layer_version="0.1", default_tickers="AAPL",
        cors_allow_origins=("https://app.example.com",), sse_reserved_concurrency=1, latency_fraction=0.85,
        canary_batch_size=1)


@pytest.mark.parametrize("change, message", [
    ({"cors_allow_origins": ()}, "corsAllowOrigins is empty"),
    ({"cors_allow_origins": ("*",)}, "never '\\*'"),
    ({"cors_allow_origins": ("app.example.com",)}, "is not an origin"),
    ({"cors_allow_origins": ("http://app.example.com",)}, "only for localhost"),
    ({"sse_reserved_concurrency": 0}, "sseReservedConcurrency must be at least 1"),
    ({"canary_batch_size": 0}, "canaryBatchSize must be 1..50"),
    ({"latency_fraction": 0.0}, "latencyFraction must be between"),
    ({"budget_thresholds_usd": ()}, "budgetThresholdsUsd"),
])
def test_bad_settings_are_errors_that_say_what_to_change(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(_base(), **change)


def test_allowed_origins():
    for origin in ("https://app.example.com", "https://app.example.com:8443", "http://localhost:8000"):
        dataclasses.replace(_base(), cors_allow_origins=(origin,))


def _stack_with(tmp_path: Path, **config) -> Path:
    """A copy of the program whose prod stack file has ``config`` overrides (None removes a key)."""
    for name in ("__main__.py", "settings.py", "Pulumi.yaml"):
        (tmp_path / name).symlink_to(REPO / name)
    for name in ("components", "contract", "handlers", "build"):
        if (REPO / name).exists():
            (tmp_path / name).symlink_to(REPO / name)
    values = dict(PROD)
    for key, value in config.items():
        full = f"sentiment-analyzer:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": values}))
    return tmp_path


@pytest.mark.parametrize("key, value", [("sseReservedConcurrency", 0), ("canaryBatchSize", 0),
                                        ("latencyFraction", 0), ("corsAllowOrigins", []),
                                        ("corsAllowOrigins", None)])
def test_zero_or_empty_config_is_not_silently_the_default(tmp_path, key, value):
    """Zero, an empty list or a missing origin list stop the program with the key's name (today they became
    25, 5, 0.85 and '*')."""
    program = _stack_with(tmp_path, **{key: value})
    with pytest.raises(Exception, match=key):
        run_program(program, "prod", preview=True)
