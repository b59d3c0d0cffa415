"""The entry point decorator of every buffered Lambda and the canary: ``@lambda_handler``.

Three wrappers make an invocation observable; ``lambda_handler`` stacks them in this order::

    logger.inject_lambda_context            # outermost
        handler_boundary
            tracer.capture_lambda_handler   # innermost, around the handler itself

* The boundary must run *outside* the tracer. ``capture_lambda_handler`` opens ``## handler`` the moment it is
  entered, under whatever entity the X-Ray SDK holds as current, and the boundary exists to clear a stale one
  first (see ``handler_boundary``). Inside the tracer it runs too late, and worse: the current entity is then
  ``## handler`` itself, whose id never equals the header's Parent, so the boundary clears ``## handler`` out of
  the context on every invocation. That document is then never sent (the invocation's fault and exception are
  lost with it) and all its subsegments hang directly off the Lambda's Parent.
* The logger goes outermost so that every line written during the invocation,
  by any layer and at any moment, carries this invocation's context (``function_request_id``, ``cold_start``).
  ``inject_lambda_context`` sets those keys before it calls what it wraps and leaves them until the next
  invocation replaces them; a line written before it ran would carry the previous invocation's. Today the
  boundary writes only after the handler has run, so its ERROR line would be right from outside the logger
  too; outermost keeps it right without depending on that.
* The trace id of every line (``xray_trace_id``) does not depend on the order: the logger reads it from the
  trace header variable per line.

``tests/handlers/test_entry_point.py`` runs all six orders on a warm instance and shows the three with the
tracer outside the boundary losing ``## handler``; it also pins the order ``lambda_handler`` applies.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Optional, TypeVar, cast, overload

from aws_xray_sdk.core.models.trace_header import TraceHeader

from contract.xray import TRACE_ENV

from . import budget
from .tracing import LOG_MESSAGE_LIMIT, bounded_message, logger, recorder, tracer

F = TypeVar("F", bound=Callable[..., Any])


def handler_boundary(fn: F, *, cap_s: Optional[float] = None) -> F:
    """Give each invocation its own trace context and deadline, and log an escaping exception once.

    * The SDK's Lambda context re-reads the trace header only when the *Root* changes, so a warm invocation
      with the same Root and a new Parent (two SNS publishes of one ingestion trace reaching the same analysis
      instance) would hang ``## handler`` off the previous Parent. When the Parent differs from the facade's id
      (or the current entity is a subsegment leaked from an earlier invocation), the stale context is cleared
      first. A missing header, or one without Root or Parent, clears it too: the SDK would otherwise keep the
      previous invocation's segment and file this invocation's documents under the previous trace id; cleared,
      it builds a no-op segment and nothing is misattributed.
    * The invocation's deadline is fixed from the context's remaining time (``cap_s`` bounds it further) before
      anything runs, so every remote call of the invocation is bounded by it (``common.budget``), and cleared
      when the invocation ends.
    * An exception leaving the handler is logged once as an ERROR line (with the trace id, FR-012) and re-raised.

    Use it through ``lambda_handler``, which puts it where it works.
    """
    @functools.wraps(fn)
    def wrapper(event: Any, context: Any) -> Any:
        if not tracer.disabled:
            header = TraceHeader.from_header_str(os.environ.get(TRACE_ENV))
            if not header.root or not header.parent:
                recorder().clear_trace_entities()
            elif getattr(recorder().get_trace_entity(), "id", None) != header.parent:
                recorder().clear_trace_entities()
        budget.begin(context, cap_s)
        try:
            return fn(event, context)
        except Exception as exc:
            logger.error("invocation failed", extra={"exception_type": type(exc).__name__,
                                                     "exception_message": bounded_message(exc, LOG_MESSAGE_LIMIT)})
            raise
        finally:
            budget.finish()
    return cast(F, wrapper)  # functools.wraps keeps fn's name and signature; mypy only sees a Callable


@overload
def lambda_handler(fn: F) -> F: ...
@overload
def lambda_handler(*, cap_s: float) -> Callable[[F], F]: ...


def lambda_handler(fn: Optional[F] = None, *, cap_s: Optional[float] = None) -> Any:
    """Decorate a Lambda entry point ``fn(event, context)``: logger context, boundary, tracer, in that order.

    ``fn``'s name names the ``## <name>`` subsegment, as with ``tracer.capture_lambda_handler`` alone.
    ``@lambda_handler(cap_s=...)`` bounds the invocation's deadline below the function's own timeout (the
    dashboard: API Gateway gives up after ``contract.api.GATEWAY_TIMEOUT_SECONDS``).
    """
    def decorate(handler: F) -> F:
        # Powertools types both decorators' results as plain Callables; each returns ``handler`` wrapped alike
        return cast(F, logger.inject_lambda_context(handler_boundary(tracer.capture_lambda_handler(handler), cap_s=cap_s)))
    return decorate if fn is None else decorate(fn)
