"""Rules of the ``xray-exclusive-tracing`` pack, importable without a gRPC server.

One module per concern, each defining its policies through ``define`` (the prologue they share):
``tracing``, ``topics``, ``alarms``, ``streaming``, ``function_urls``, ``iam``, ``cost``, ``dashboard``. The
pack's order is the order of ``CONCERNS``, then each module's own order. Reading props lives in ``values`` and ``alarm_props``,
the stack-wide lookups in ``stack_index`` (built once per ``AnalyzeStack`` call, ``call_scope``), the
defaults in ``contract`` (``policies/contract`` links to the repository's package).
"""
from __future__ import annotations

from types import ModuleType

from pulumi_policy import Policy

from . import alarms, cost, dashboard, function_urls, iam, streaming, topics, tracing
from .call_scope import install as _install_call_scope

PACK_NAME = "xray-exclusive-tracing"
PACK_DESCRIPTION = ("X-Ray exclusive tracing: Active tracing of functions, API stages, topics and state machines, "
                    "alarms linked to every Lambda, streaming OTel rules, public Function URL permissions, "
                    "missing-data intent, X-Ray permissions, names, cost and dashboard coverage.")

#: The concerns, in the pack's order.
CONCERNS: tuple[ModuleType, ...] = (tracing, topics, alarms, streaming, function_urls, iam, cost, dashboard)


def build_policies() -> list[Policy]:
    """Fresh policy objects, concern by concern; their stack policies share one index per call."""
    _install_call_scope()
    return [policy for concern in CONCERNS for policy in concern.policies()]


__all__ = ["PACK_NAME", "PACK_DESCRIPTION", "CONCERNS", "build_policies"]
