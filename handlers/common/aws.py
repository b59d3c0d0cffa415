"""boto3 clients and the secrets provider, bounded by the invocation's time left.

Clients are built lazily (a call made during init is discarded by the X-Ray SDK, "Lambda worker still
initializing") and the endpoint comes from boto3's own resolution (``AWS_ENDPOINT_URL[_<SERVICE>]``), which
tests point at a moto server. Each call site asks for its client when it makes the call, and gets the one
whose timeouts and attempts fit in the time left (``common.budget.policy``); clients are cached per policy,
so a warm function reuses them. Every client also refuses, before sending, an attempt that could no longer
finish before the deadline (a retry included): a dependency that never answers costs the invocation its
budget at most, never its life.
"""
from __future__ import annotations

import functools
from typing import Any, Optional, cast

import boto3
from aws_lambda_powertools.utilities.parameters import BaseProvider

from . import budget


def _refuse_late_attempt(needed_s: float, event_name: str = "", **_: Any) -> None:
    # ``before-send.<service>.<Operation>``: once per attempt, after botocore's backoff sleep
    budget.check_attempt(event_name.removeprefix("before-send."), needed_s)


def _bounded(boto_client: Any, policy: budget.AttemptPolicy) -> Any:
    boto_client.meta.events.register("before-send", functools.partial(_refuse_late_attempt, policy.per_attempt_s))
    return boto_client


@functools.cache
def _client(service: str, region: Optional[str], policy: budget.AttemptPolicy):
    return _bounded(boto3.client(service, region_name=region, config=policy.config(region)), policy)


@functools.cache
def _dynamodb(policy: budget.AttemptPolicy):
    resource = boto3.resource("dynamodb", config=policy.config())
    _bounded(resource.meta.client, policy)
    return resource


def client(service: str, region: Optional[str] = None):
    """The ``service`` client for a call made now (``region`` defaults to boto3's own resolution)."""
    return _client(service, region, budget.policy(f"{service} call"))


def dynamodb():
    """The DynamoDB resource for a call made now."""
    return _dynamodb(budget.policy("dynamodb call"))


def table(name: str):
    return dynamodb().Table(name)


class _Secrets(BaseProvider):
    """Powertools' parameter cache over Secrets Manager, through the bounded client of the moment (Powertools'
    own ``SecretsProvider`` keeps the client it was built with, with botocore's unbounded defaults)."""

    def _get(self, name: str, **sdk_options: Any) -> str:
        return client("secretsmanager").get_secret_value(SecretId=name, **sdk_options)["SecretString"]

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise NotImplementedError("the handlers read one secret at a time")


@functools.cache
def _secrets() -> _Secrets:
    return _Secrets()


def get_secret(arn: str, *, max_age: int = 300) -> dict[str, Any]:
    """A JSON secret, cached for ``max_age`` seconds across warm invocations."""
    # typed as any transform's result (str, bytes, dict or None); with "json" it is the decoded secret
    return cast(dict[str, Any], _secrets().get(arn, max_age=max_age, transform="json"))


def reset_clients() -> None:
    """Forget cached clients and secrets (tests change endpoints between cases)."""
    _client.cache_clear()
    _dynamodb.cache_clear()
    _secrets.cache_clear()
