"""Shared code of the buffered Lambdas: tracing facade, silent-failure recorder, metrics, config, clients.

Inside a Lambda this directory is the top-level package ``common`` beside ``app.py``; in the repository,
``handlers/`` is put on ``sys.path`` so the same ``import common`` works (handlers/README.md).
"""
from .aws import client, dynamodb, reset_clients, table
from .config import MissingEnvironmentError, function_name, require_env
from .metrics import Outcome, put_metrics, silent_failure
from .tracing import (InstrumentationError, annotate, bounded_message, current_trace_id, handler_boundary, logger,
                      put_metadata, remote_call, run_parallel, safe_url, tracer)

__all__ = ["InstrumentationError", "MissingEnvironmentError", "Outcome", "annotate", "bounded_message", "client",
           "current_trace_id", "dynamodb", "function_name", "handler_boundary", "logger", "put_metadata", "put_metrics", "remote_call",
           "require_env", "reset_clients", "run_parallel", "safe_url", "silent_failure", "table", "tracer"]
