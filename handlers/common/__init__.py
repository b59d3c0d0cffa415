"""What the buffered Lambdas and the canary share: the entry-point decorator, tracing, metrics, config, clients.

Inside a Lambda this directory is the package ``common`` beside ``app.py``, and the repository's ``contract``
package sits beside it, so ``import common`` and ``import contract`` work as top-level imports. In the
repository the root is on ``sys.path`` (``contract``) and ``handlers/`` is appended to it (``common``), so the
same imports resolve to the same modules.

Modules, one job each: ``handler`` (``lambda_handler``, ``handler_boundary``), ``tracing`` (the Tracer, the
Logger, the document and annotation bounds), ``budget`` (the invocation's deadline and the timeouts and
retries derived from it), ``aws`` (boto3 clients and secrets within that budget), ``remote`` (explicit
subsegments for HTTP), ``parallel`` (threads that keep the trace), ``metrics`` (PutMetricData and the
silent-failure recorder), ``events`` (trigger events validated, or a clear error), ``breaker`` (Powertools'
circuit breaker with its store's failures on the silent paths), ``config`` (fail-fast environment).
``events`` and ``breaker`` are imported by the handlers that use them (``from common.events import ...``): they
load pydantic and the circuit breaker utility, which the other functions' cold starts need not pay for.
"""
from .aws import client, dynamodb, get_secret, reset_clients, table
from .budget import DeadlineExceeded
from .config import MissingEnvironmentError, require_env
from .handler import handler_boundary, lambda_handler
from .metrics import Outcome, put_metrics, silent_failure
from .parallel import run_parallel
from .remote import remote_call
from .tracing import NEVER_SWALLOWED, InstrumentationError, annotate, logger, put_metadata, tracer

__all__ = ["NEVER_SWALLOWED", "DeadlineExceeded", "InstrumentationError", "MissingEnvironmentError",
           "Outcome", "annotate", "client", "dynamodb", "get_secret", "handler_boundary", "lambda_handler", "logger",
           "put_metadata", "put_metrics", "remote_call", "require_env", "reset_clients", "run_parallel",
           "silent_failure", "table", "tracer"]
