"""How every physical name of the system is formed: ``{env}-sentiment-{name}``."""
from __future__ import annotations

#: The system's name inside every physical name.
SYSTEM = "sentiment"


def prefix(environment: str) -> str:
    """``{env}-sentiment``: what every physical name of one environment starts with."""
    return f"{environment}-{SYSTEM}"


def resource_name(environment: str, name: str) -> str:
    """``{env}-sentiment-{name}``: functions, tables, topics, alarm prefixes, dashboards, budgets."""
    return f"{prefix(environment)}-{name}"


def function_name(environment: str, function: str) -> str:
    """The physical name of a Lambda function (its ``FunctionName`` metric dimension)."""
    return resource_name(environment, function)


def service_name(function: str) -> str:
    """The service name a function's logs and traces carry (``POWERTOOLS_SERVICE_NAME``/``OTEL_SERVICE_NAME``)."""
    return f"{SYSTEM}-{function}"
