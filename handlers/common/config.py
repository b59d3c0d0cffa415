"""Fail-fast environment: a handler reads what it needs at once and names every variable that is missing.

What each function needs is ``contract.env.REQUIRED[function]``; the program sets at least those.
"""
from __future__ import annotations

import os

from contract import env


class MissingEnvironmentError(RuntimeError):
    """A variable the program must set is absent: a deployment error, never retried into success."""


def require_env(*names: str) -> dict[str, str]:
    """Read every name at once and fail naming all missing ones, so a misconfigured function says what to fix."""
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise MissingEnvironmentError(
            f"missing environment variable(s) {', '.join(missing)}: the stack program sets them on this function "
            f"(see handlers/README.md)")
    return {n: os.environ[n] for n in names}


def function_name() -> str:
    """The Lambda function name (the ``FunctionName`` metric dimension); set by the Lambda runtime."""
    return require_env(env.LAMBDA_FUNCTION_NAME)[env.LAMBDA_FUNCTION_NAME]
