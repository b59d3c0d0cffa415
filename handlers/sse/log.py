"""JSON log lines with the X-Ray trace id as a top-level field (D12, FR-012), no correlation ids.

Field names follow Powertools Logger (``level``, ``location``, ``message``, ``timestamp``, ``service``,
``xray_trace_id``) so Logs Insights queries work across all functions; the trace id comes from the
stream's OTel context (a ContextVar set per request), since this process has no X-Ray SDK (D2).
"""
from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from datetime import datetime, timezone

current_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("xray_trace_id", default=None)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname, "location": f"{record.funcName}:{record.lineno}",
                "message": record.getMessage(),
                "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "service": self.service, "xray_trace_id": current_trace_id.get()}
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)[-2048:]
        return json.dumps(line, default=str)


def get_logger() -> logging.Logger:
    logger = logging.getLogger("sentiment.sse")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter(os.environ.get("POWERTOOLS_SERVICE_NAME", "sentiment-sse")))
        logger.addHandler(handler)
        logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", os.environ.get("LOG_LEVEL", "INFO")).upper())
        logger.propagate = False
    return logger
