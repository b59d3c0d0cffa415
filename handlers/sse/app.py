"""The SSE streaming service: a Starlette app served by uvicorn behind the Lambda Web Adapter (D1).

Endpoints: ``GET /health`` (the adapter's readiness check), ``GET /api/v2/stream/status``,
``GET /api/v2/stream`` (filters ``tickers``, ``resolutions``; public by design) and
``GET /api/v2/configurations/{id}/stream`` (``Authorization: Bearer <Cognito ID or access token>`` of the
program's user pool, verified in ``auth.py``: the token's ``sub`` is the user; the configuration's tickers
become the filter).

This module holds the routes and the lifespan only. A route checks everything the request carries first
(the token: a 401 with RFC 6750's ``WWW-Authenticate``, or 503 when the pool's keys cannot be fetched;
``request.py``: a bad value is a 400 with its reason), then hands the stream to ``stream.SSEStream``,
which takes the connection slot and gives it back on every path. What a stream sends and when is
described there; the framing is ``wire.py``, the event payloads ``events.py``.

Tracing is OpenTelemetry only (D2); see ``telemetry.py``. The app starts from exactly the environment the
program gives the function and reads it at startup (``settings.py``: fail fast on a missing table name).

Kill switch (FR-108): set ``OTEL_SDK_DISABLED=true`` on the function and the app streams exactly as
before (same events, ids, ``trace_id`` in the data, metrics) but records and exports no span, and it
starts even when the OTel settings are broken; a WARNING line at startup says tracing is off. Unset it
(or set anything but ``true``) to trace again. See ``telemetry.py``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import time
from collections.abc import AsyncIterator

from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contract.streaming import READINESS_PATH, SDK_DISABLED_VAR
from contract.xray import TRACE_HEADER
from handlers.sse import metrics, wire
from handlers.sse.auth import Identity, KeysUnavailable, TokenVerifier, Unauthorized
from handlers.sse.log import get_logger
from handlers.sse.request import BadRequest, StreamRequest, check_config_id, parse_tickers
from handlers.sse.service import Service, run_io, service
from handlers.sse.stream import SSEStream

log = get_logger()


def _bad_request(exc: BadRequest) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=400)


@functools.cache
def verifier() -> TokenVerifier:
    """One per process: its key cache serves every request of the Lambda environment."""
    s = service().settings
    return TokenVerifier(s.cognito_issuer, s.cognito_client_id, s.jwks_url)


async def _authenticate(request: Request) -> Identity | Response:
    """The verified caller, or the 401/503 that answers the request (never a 500: see ``auth.py``)."""
    try:
        return await run_io(verifier().verify, request.headers.get("authorization"))
    except Unauthorized as exc:
        log.info("configuration stream refused: %s", exc.description, extra={"auth_error": exc.error or "no_token"})
        return JSONResponse({"error": exc.description}, status_code=401,
                            headers={"www-authenticate": exc.www_authenticate})
    except KeysUnavailable as exc:
        log.warning("configuration stream unavailable: %s", exc)
        return JSONResponse({"error": str(exc)}, status_code=503,
                            headers={"retry-after": str(math.ceil(exc.retry_after_s))})


def _parse(svc: Service, request: Request, tickers: str | None) -> StreamRequest:
    return StreamRequest.parse(request.query_params, request.headers, tickers, svc.settings.fallback_deadline_ms)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def stream_status(request: Request) -> Response:
    svc = service()
    st = svc.tracer(request.headers)
    with st.span("stream_status", kind=SpanKind.SERVER) as span:
        span.annotate(connection_count=svc.pool.current, max_connections=svc.pool.max)
        body = svc.status()
    await svc.finish(st)
    return JSONResponse(body, headers={TRACE_HEADER: wire.trace_header_value(st.trace_id)})


async def global_stream(request: Request) -> Response | SSEStream:
    received = time.monotonic()
    svc = service()
    try:
        parsed = _parse(svc, request, request.query_params.get("tickers"))
    except BadRequest as exc:
        return _bad_request(exc)
    return SSEStream(svc, svc.tracer(request.headers), parsed, stream_type="global", received=received)


async def config_stream(request: Request) -> Response | SSEStream:
    received = time.monotonic()
    svc = service()
    identity = await _authenticate(request)
    if isinstance(identity, Response):
        return identity
    try:
        config_id = check_config_id(request.path_params["config_id"])
        parsed = _parse(svc, request, None)
    except BadRequest as exc:
        return _bad_request(exc)
    st = svc.tracer(request.headers)
    config = await run_io(svc.store.configuration, st, identity.user_id, config_id)
    if config is None:
        await svc.finish(st)
        return JSONResponse({"error": "configuration not found"}, status_code=404)
    try:
        tickers = parse_tickers(",".join(str(t) for t in (config.get("tickers") or [])))
    except BadRequest as exc:
        await svc.finish(st)
        return _bad_request(exc)
    return SSEStream(svc, st, dataclasses.replace(parsed, tickers=tickers), stream_type="config", received=received)


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    svc = service()  # fail fast: a missing table name or a bad OTel setting stops the app before readiness
    verifier()  # no key is fetched yet: the first configuration stream fetches them
    raw = os.environ.get(SDK_DISABLED_VAR, "").strip()
    if not svc.telemetry.enabled:
        log.warning(f"{SDK_DISABLED_VAR}=true: tracing is off, no span is recorded or exported (FR-108 kill switch)",
                    extra={"otel_sdk_disabled": True})
    elif raw and raw.lower() != "false":
        log.warning(f"{SDK_DISABLED_VAR}=%r is not 'true': tracing stays ON (the SDK reads only 'true')", raw)
    # Build the boto3 clients now (INIT is not billed against a stream's setup latency); no call is made.
    svc.store.client()
    metrics.cloudwatch_client()
    yield
    # Process exit (SIGTERM from Lambda's SHUTDOWN, or Ctrl-C): one last bounded flush.
    await run_io(svc.telemetry.flush)


app = Starlette(routes=[
    Route(READINESS_PATH, health),
    Route("/api/v2/stream/status", stream_status),
    Route("/api/v2/stream", global_stream),
    Route("/api/v2/configurations/{config_id}/stream", config_stream),
], lifespan=lifespan)
