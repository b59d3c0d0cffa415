"""Rules of the ``xray-exclusive-tracing`` pack (DESIGN §5), importable without a gRPC server.

``build_policies()`` returns fresh policy objects in the order of DESIGN §5's table. Resource rules
are in ``resource_rules``, stack rules in ``stack_rules``, shared reading of props in ``values``,
``alarms`` and ``stack_index``.
"""
from __future__ import annotations

from .resource_rules import resource_policies
from .stack_rules import stack_policies

PACK_NAME = "xray-exclusive-tracing"
PACK_DESCRIPTION = ("X-Ray exclusive tracing: Active tracing, alarms linked to every Lambda, streaming OTel rules, "
                    "missing-data intent, X-Ray permissions, names, cost and dashboard coverage.")

ORDER = ["lambda-tracing-active", "lambda-error-alarm", "lambda-latency-alarm", "streaming-no-exec-wrapper",
         "streaming-otel-config", "absence-alarm-breaching", "alarm-missing-data-class", "alarm-has-actions",
         "xray-write-permissions", "xray-name-limits", "tracing-cost-budget", "dashboard-shows-all-alarms",
         "canary-role-isolated"]


def build_policies() -> list:
    by_name = {p.name: p for p in resource_policies() + stack_policies()}
    return [by_name[n] for n in ORDER]


__all__ = ["PACK_NAME", "PACK_DESCRIPTION", "ORDER", "build_policies"]
