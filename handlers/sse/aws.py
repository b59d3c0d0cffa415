"""boto3 settings for calls made while streaming: bounded, so a slow AWS API cannot hold a stream.

Endpoints come from boto3's own resolution (``AWS_ENDPOINT_URL`` points everything at a local stand-in off
AWS). No botocore instrumentation is installed: the spans around these calls are explicit (FR-060).
"""
from __future__ import annotations

from botocore.config import Config


def client_config() -> Config:
    """Short connect and read timeouts and one retry: a stalled call costs a stream seconds, not minutes."""
    return Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})
