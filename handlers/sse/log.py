"""The SSE service's logs: Powertools ``Logger`` JSON, the X-Ray trace id a top-level field (D12, FR-012).

Same library, field names and timestamp format as the buffered Lambdas (``level``, ``location``,
``message``, ``timestamp``, ``service``, ``xray_trace_id``, extras as top-level keys), so one Logs
Insights query works across all functions. No correlation ids (FR-010/011/024).

The one difference: Powertools takes ``xray_trace_id`` from ``_X_AMZN_TRACE_ID``, which the Web Adapter
does not set in this process (D2), and one process serves many streams at once. So the id comes from the
stream's OTel context instead: ``current_trace_id`` (a ContextVar, set per request, copied into the IO
threads by ``service.run_io``), falling back to Powertools' own lookup when no stream is current. The Tracer
part of Powertools is never imported here (no X-Ray SDK in this process, D2/FR-060).

Cost in the image (measured, Powertools 3.37): about 7.6 MB installed (its dependencies, jmespath and
typing-extensions, are already there through boto3 and OTel) and about 20 ms of cold import.
"""
from __future__ import annotations

import contextvars
import json
from typing import TYPE_CHECKING

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from contract.xray import MAX_ERROR_MESSAGE, MAX_STACK_FRAMES

if TYPE_CHECKING:  # the record type serialize() receives; for type checkers only, as Powertools imports it
    from aws_lambda_powertools.logging.types import LogRecord

current_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("xray_trace_id", default=None)


class StreamFormatter(LambdaPowertoolsFormatter):
    """Powertools' formatter with the current stream's X-Ray trace id, and tracebacks cut to the bounds of
    errors in X-Ray (D10; the last characters and frames are the useful ones)."""

    def serialize(self, log: LogRecord) -> str:
        trace_id = current_trace_id.get()
        if trace_id:
            log["xray_trace_id"] = trace_id
        exception = log.get("exception")
        if isinstance(exception, str) and len(exception) > MAX_ERROR_MESSAGE:
            log["exception"] = exception[-MAX_ERROR_MESSAGE:]
        stack = log.get("stack_trace")
        if isinstance(stack, dict) and isinstance(stack.get("frames"), list):
            stack["frames"] = stack["frames"][-MAX_STACK_FRAMES:]
        return json.dumps(log, default=str, separators=(",", ":"))


_logger: Logger | None = None


def get_logger() -> Logger:
    """The process's logger. Service and level come from ``POWERTOOLS_SERVICE_NAME`` and
    ``POWERTOOLS_LOG_LEVEL`` / ``LOG_LEVEL`` as Powertools reads them."""
    global _logger
    if _logger is None:
        _logger = Logger(logger_formatter=StreamFormatter())
    return _logger
