"""One ``StackIndex`` per ``AnalyzeStack`` call, shared by every stack policy of that call.

pulumi-policy (1.21, pinned) gives each stack policy its own ``StackValidationArgs`` whose resource list
it deserializes afresh from the request: the policies of one call share no Python object a cache could
key on, and two calls can carry the same URNs with different props (preview, then update). The one
boundary that is exactly "one call" is the servicer's ``AnalyzeStack`` method, so ``install()`` wraps it
to open a scope for the duration of the call. The scope lives in a context variable because the gRPC
server runs calls on a thread pool, each call on one thread from start to end.

Inside a scope the first stack policy builds the index and the others reuse it; the scope ends with the
call, so nothing survives into the next one. Outside any scope (a policy's ``validate`` called directly,
another host) every policy builds its own index, exactly as without this module.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource

from .stack_index import StackIndex

_MARK = "_xray_rules_call_scope"


@dataclass
class _Call:
    urns: tuple[str, ...] = ()
    index: StackIndex | None = None


_CURRENT: ContextVar[_Call | None] = ContextVar("xray_rules_analyze_stack_call", default=None)


def index_for(resources: Sequence[PolicyResource]) -> StackIndex:
    """The index of these resources: the call's own if one was built for them, else a new one."""
    call = _CURRENT.get()
    if call is None:
        return StackIndex.build(resources)
    urns = tuple(r.urn for r in resources)
    if call.index is None or call.urns != urns:  # the same request's resources, or build anew
        call.index, call.urns = StackIndex.build(resources), urns
    return call.index


def _scoped(analyze_stack: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(analyze_stack)
    def scoped(self: Any, request: Any, context: Any) -> Any:
        token = _CURRENT.set(_Call())
        try:
            return analyze_stack(self, request, context)
        finally:
            _CURRENT.reset(token)

    setattr(scoped, _MARK, True)
    return scoped


def install() -> None:
    """Wrap the SDK servicer's ``AnalyzeStack`` in a call scope (once; before the server registers it)."""
    from pulumi_policy.policy import _PolicyAnalyzerServicer  # private: the only per-call boundary there is

    if not getattr(_PolicyAnalyzerServicer.AnalyzeStack, _MARK, False):
        _PolicyAnalyzerServicer.AnalyzeStack = _scoped(  # type: ignore[method-assign]
            _PolicyAnalyzerServicer.AnalyzeStack)
