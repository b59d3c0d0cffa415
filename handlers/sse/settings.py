"""The SSE app's settings, read once at startup from the environment the program sets on the function.

Fail fast: a missing table name, a non-number or an out-of-range interval stops the app before the Web
Adapter's readiness check passes, so a broken deployment never serves a stream. The variable names come
from ``contract.env`` (and ``contract.streaming`` for the off-Lambda deadline); the defaults are the
component's (``StreamingTracedLambdaArgs``), for a run off Lambda.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, TypeVar

from contract import env as names
from contract.metrics import sse_function_name
from contract.streaming import DEADLINE_ENV, FUNCTION
from handlers.sse.auth import JWKS_PATH

#: Lambda's own variable with the function's physical name (the ``FunctionName`` metric dimension).
LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
#: The SDKs' endpoint overrides for Cognito user pools, the service-specific one first (docs/aws-facts.md): off
#: AWS (moto) the pool's keys are served under the override at ``/<pool id>``.
ENDPOINT_OVERRIDES = ("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "AWS_ENDPOINT_URL")
#: What ``UserDirectory`` sets: ``https://cognito-idp.<region>.amazonaws.com/<pool id>``.
_ISSUER = re.compile(r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/(?P<pool>[a-z0-9-]+_[A-Za-z0-9]+)")

N = TypeVar("N", int, float)


class SettingsError(RuntimeError):
    """The environment cannot run the app; the message names the variable and what it needs."""


@dataclass(frozen=True)
class Settings:
    items_table: str
    users_table: str
    #: The ``FunctionName`` dimension of the app's metrics.
    function_name: str
    max_connections: int
    poll_interval_s: float
    heartbeat_s: float
    #: The user pool whose tokens the configuration stream accepts (D16), its app client, and where its
    #: signing keys are fetched from.
    cognito_issuer: str
    cognito_client_id: str
    jwks_url: str
    #: A deadline (epoch ms) for every stream when no ``x-amzn-lambda-context`` header gives one: set by a
    #: bootstrap that runs the app off the Web Adapter. None: streams end only when the client leaves.
    fallback_deadline_ms: Optional[float] = None

    @classmethod
    def from_env(cls) -> Settings:
        missing = [k for k in names.REQUIRED[FUNCTION] if not os.environ.get(k)]
        if missing:
            raise SettingsError(f"missing environment variable(s) {missing}: the program sets them on the function")
        settings = cls(items_table=os.environ[names.ITEMS_TABLE], users_table=os.environ[names.USERS_TABLE],
                       function_name=_function_name(),
                       max_connections=_number(names.SSE_MAX_CONNECTIONS, int, 100),
                       poll_interval_s=_number(names.SSE_POLL_INTERVAL_SECONDS, float, 5.0),
                       heartbeat_s=_number(names.SSE_HEARTBEAT_SECONDS, float, 30.0),
                       cognito_issuer=os.environ[names.COGNITO_ISSUER].strip(),
                       cognito_client_id=os.environ[names.COGNITO_CLIENT_ID].strip(),
                       jwks_url=_jwks_url(os.environ[names.COGNITO_ISSUER].strip()),
                       fallback_deadline_ms=_optional_number(DEADLINE_ENV, float))
        if settings.max_connections < 1 or settings.poll_interval_s <= 0 or settings.heartbeat_s <= 0:
            raise SettingsError(f"invalid SSE settings {settings}: the cap must be >= 1 and the intervals > 0")
        return settings


def _jwks_url(issuer: str) -> str:
    """The pool's JWKS: under the issuer on AWS; under the SDKs' endpoint override when one is set (moto
    serves ``/<pool id>/.well-known/jwks.json`` while its tokens name the AWS issuer)."""
    match = _ISSUER.fullmatch(issuer)
    if match is None:
        raise SettingsError(f"{names.COGNITO_ISSUER}={issuer!r} is not https://cognito-idp.<region>.amazonaws.com/"
                            "<user pool id> (the program sets the pool's issuer)")
    override = next((v for v in (os.environ.get(k, "").strip().rstrip("/") for k in ENDPOINT_OVERRIDES) if v), "")
    return f"{override}/{match['pool']}{JWKS_PATH}" if override else f"{issuer}{JWKS_PATH}"


def _number(name: str, kind: Callable[[str], N], default: N) -> N:
    value = _optional_number(name, kind)
    return default if value is None else value


def _optional_number(name: str, kind: Callable[[str], N]) -> Optional[N]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    what = "an integer" if kind is int else "a finite number"
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not {what}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name}={raw!r} is not {what}")
    return value


def _function_name() -> str:
    """Lambda's own name for the function; off Lambda, the program's naming rule applied to ``ENVIRONMENT``."""
    name = os.environ.get(LAMBDA_FUNCTION_NAME, "")
    if name:
        return name
    environment = os.environ.get(names.ENVIRONMENT, "")
    if not environment:
        raise SettingsError(f"neither {LAMBDA_FUNCTION_NAME} nor {names.ENVIRONMENT} is set: the metrics need the "
                            "function's name")
    return sse_function_name(environment)
