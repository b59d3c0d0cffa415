"""``common.lambda_handler``: how logger context, handler boundary and tracer are stacked (FR-012, FR-013, SC-008).

Every order of the three wrappers is run in the situation the boundary exists for, on a warm instance: two
invocations of one trace (same Root, a new Parent), each failing after it opened a subsegment. What reaches the daemon
stand-in and the log lines shows which orders keep the trace intact.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.handlers.conftest import BUFFERED, FakeContext, H, by_name, lambda_name, new_trace_header
from tests.handlers.logs import wrapper_layers

WRAPPERS: dict[str, Callable[[Callable], Callable]] = {
    "logger": H.common.logger.inject_lambda_context,
    "boundary": H.common.handler_boundary,
    "tracer": H.common.tracer.capture_lambda_handler,
}
#: ``lambda_handler``'s layers, outermost first, named by the code of each wrapper.
LAYERS = ["Logger.inject_lambda_context.<locals>.decorate", "handler_boundary.<locals>.wrapper",
          "Tracer.capture_lambda_handler.<locals>.decorate"]


class Boom(RuntimeError):
    pass


def handler(event: Any, context: Any) -> None:
    with H.common.tracer.provider.in_subsegment("work"):
        pass
    raise Boom("the handler failed")


def stacked(order: tuple[str, ...]) -> Callable:
    """``handler`` wrapped in ``order``, outermost first."""
    fn: Callable = handler
    for name in reversed(order):
        fn = WRAPPERS[name](fn)
    return fn


@dataclass
class Warm:
    """Two failing invocations of one trace on one warm instance, as they reached the wire and the logs."""

    root: str
    parents: list[str]
    contexts: list[FakeContext]
    handlers: list[dict]
    work: list[dict]
    error_lines: list[dict]

    def tree_intact(self) -> bool:
        """Each invocation's ``## handler`` hangs off its own Parent and holds its ``work``."""
        return (sorted(h["parent_id"] for h in self.handlers) == sorted(self.parents)
                and sorted(w["parent_id"] for w in self.work) == sorted(h["id"] for h in self.handlers))


def run_warm(lam, daemon, entry: Callable) -> Warm:
    root, first, _ = new_trace_header()
    parents, contexts = [first, "d" * 16], []
    for parent in parents:
        contexts.append(FakeContext(lambda_name("analysis")))
        lam.invoke("analysis", {}, header=(root, parent, f"Root={root};Parent={parent};Sampled=1"), handler=entry,
                   context=contexts[-1], expect_error=True)

    @H.common.lambda_handler
    def sentinel(event: Any, context: Any) -> None:
        return None

    after = lam.invoke("analysis", {}, handler=sentinel)
    daemon.wait_for_names(after.root, {"## sentinel"})  # datagrams arrive in order: the warm pair's are in too
    docs = daemon.for_trace(root)
    return Warm(root, parents, contexts, by_name(docs, "## handler"), by_name(docs, "work"),
                [line for line in lam.logs.lines if line["message"] == "invocation failed"
                 and line["xray_trace_id"] == root])


def test_lambda_handler_keeps_each_invocation_whole_fr012_fr013(lam, daemon):
    """FR-013 / SC-008 / FR-012: with ``lambda_handler``, each warm invocation's ``## handler`` hangs off its own
    Parent, is faulted with the exception and holds its subsegments; one ERROR line per invocation names it."""
    warm = run_warm(lam, daemon, H.common.lambda_handler(handler))
    assert warm.tree_intact()
    by_parent = {h["parent_id"]: h for h in warm.handlers}
    for parent in warm.parents:
        assert by_parent[parent]["fault"] is True
        assert by_parent[parent]["cause"]["exceptions"][0]["type"] == "Boom"
    assert [line["function_request_id"] for line in warm.error_lines] == [c.aws_request_id for c in warm.contexts]
    assert {line["exception_type"] for line in warm.error_lines} == {"Boom"}


@pytest.mark.parametrize("order", list(itertools.permutations(WRAPPERS)), ids="-".join)
def test_only_a_boundary_outside_the_tracer_keeps_the_trace_fr013(order, lam, daemon):
    """FR-013: the boundary must clear a stale context before the tracer opens ``## handler``. Inside the tracer it
    clears ``## handler`` itself away: that document never reaches the daemon (its fault and exception with it)
    and the subsegments hang off the Lambda's Parent directly. The logger's place changes no line here: the
    ERROR line always names its own invocation (Powertools keeps the keys it set after the handler returns)."""
    warm = run_warm(lam, daemon, stacked(order))
    boundary_outside_tracer = order.index("boundary") < order.index("tracer")
    assert warm.tree_intact() == boundary_outside_tracer
    if not boundary_outside_tracer:
        assert warm.handlers == []
        assert sorted(w["parent_id"] for w in warm.work) == sorted(warm.parents)
    assert [line["function_request_id"] for line in warm.error_lines] == [c.aws_request_id for c in warm.contexts]


def test_lambda_handler_stacks_logger_boundary_tracer():
    """The order ``lambda_handler`` applies, outermost first (the decorator's docstring says why)."""
    assert wrapper_layers(H.common.lambda_handler(handler)) == LAYERS


@pytest.mark.parametrize("function", BUFFERED)
def test_every_buffered_handler_uses_lambda_handler(function):
    assert wrapper_layers(getattr(H, function).handler) == LAYERS
