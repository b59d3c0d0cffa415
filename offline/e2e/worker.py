"""Runs one function's handler the way the Lambda Python runtime does. Started by ``runtime.LambdaProcess`` with
``python -I -S`` (no site-packages, no repository on the path): the only importable code is the function's
unpacked archive and the stand-in for the Powertools layer and the runtime's boto3, so a dependency the archive
lacks fails here with the ImportError AWS would give.

Protocol: one JSON request per line on stdin (event, trace header, deadline, log file, faults to inject); one JSON
reply per line on the file descriptor named by the last argument. Each invocation's stdout/stderr (the function's
logs) go to the request's log file, and every AWS call the handler makes (service, operation, parameters, outcome)
is listed in the reply.

Standard library only at import; botocore is imported from the layer path once the paths are set.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any

CALLS: list[dict[str, Any]] = []
#: Faults of the current invocation: {service, operation, contains, code}.
FAULTS: list[dict[str, Any]] = []
#: IAM service prefixes whose endpoint prefix differs.
IAM_PREFIX = {"monitoring": "cloudwatch"}


class Context:
    """The Lambda context object: what handlers (and Powertools) read."""

    def __init__(self, deadline_ms: int, request_id: str) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = os.environ.get("E2E_FUNCTION_ARN", "")
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = "e2e"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _record_calls() -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = BaseClient._make_api_call

    def recorded(self: Any, operation_name: str, api_params: dict) -> Any:
        prefix = self.meta.service_model.endpoint_prefix
        service = IAM_PREFIX.get(prefix, prefix)
        entry: dict[str, Any] = {"service": service, "operation": operation_name,
                                 "params": _plain(api_params), "error": None}
        CALLS.append(entry)
        for fault in FAULTS:  # fault injection, as a failing dependency would answer
            if (fault["service"], fault["operation"]) == (service, operation_name) and \
                    fault.get("contains", "") in json.dumps(api_params, default=str):
                entry["error"] = fault["code"]
                raise ClientError({"Error": {"Code": fault["code"], "Message": "injected by the e2e run"},
                                   "ResponseMetadata": {"HTTPStatusCode": 400}}, operation_name)
        try:
            return original(self, operation_name, api_params)
        except ClientError as exc:
            entry["error"] = exc.response.get("Error", {}).get("Code", "ClientError")
            raise

    BaseClient._make_api_call = recorded


def _plain(value: Any, depth: int = 0) -> Any:
    """Parameters as JSON, bodies cut: the judge needs names and ARNs, never payloads."""
    if depth > 6:
        return "..."
    if isinstance(value, dict):
        # an SNS message is what the subscriber receives, so it is kept whole (SNS caps it at 256 KB)
        return {str(k): (v if k == "Message" and isinstance(v, str) else _plain(v, depth + 1))
                for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in list(value)[:50]]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > 512:
        return value[:512] + "..."
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def main() -> int:
    task_root, layer, handler_spec, reply_fd = sys.argv[1:5]
    sys.path[:0] = [task_root, layer]
    os.chdir(task_root)
    replies = os.fdopen(int(reply_fd), "w", buffering=1)
    _record_calls()
    module_name, function_name = handler_spec.rsplit(".", 1)
    handler = None
    for line in sys.stdin:
        request = json.loads(line)
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(log_fd, 1), os.dup2(log_fd, 2)
        os.close(log_fd)
        os.environ["_X_AMZN_TRACE_ID"] = request["trace"]
        CALLS.clear()
        FAULTS[:] = request.get("faults") or []
        reply: dict[str, Any] = {"ok": True, "result": None}
        started = time.monotonic()
        try:
            if handler is None:  # the init phase: the module imports on the first invocation
                handler = getattr(importlib.import_module(module_name), function_name)
            result = handler(request["event"], Context(request["deadline_ms"], request.get("request_id") or str(uuid.uuid4())))
            reply["result"] = json.loads(json.dumps(result, default=str))
        except Exception as exc:  # noqa: BLE001 - reported to the runner as Lambda reports a function error
            reply = {"ok": False, "error_type": type(exc).__name__, "error_message": str(exc)[:2000],
                     "stack": traceback.format_exc(limit=8)[-4000:]}
        sys.stdout.flush(), sys.stderr.flush()
        reply["calls"] = list(CALLS)
        reply["seconds"] = round(time.monotonic() - started, 4)
        replies.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
