"""boto3 clients, built lazily once per process and reused across warm invocations.

Lazy (not at import) because a call made during init is discarded by the X-Ray SDK ("Lambda worker still
initializing") and because the endpoint comes from boto3's own resolution (``AWS_ENDPOINT_URL``), which
tests point at a moto server. Timeouts and retries are bounded so a dead dependency cannot hang a handler
past its timeout.
"""
from __future__ import annotations

import functools

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})


@functools.cache
def client(service: str):
    return boto3.client(service, config=CLIENT_CONFIG)


@functools.cache
def dynamodb():
    return boto3.resource("dynamodb", config=CLIENT_CONFIG)


def table(name: str):
    return dynamodb().Table(name)


def reset_clients() -> None:
    """Forget cached clients (tests change endpoints between cases)."""
    client.cache_clear()
    dynamodb.cache_clear()
