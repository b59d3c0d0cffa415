"""Fast in-process checks of the pieces the wire tests cannot isolate (no OTel global state is touched:
these use the propagator and helpers directly, never a TracerProvider)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator

from components import schema
from components import streaming_lambda
from handlers.sse import contract, cors
from handlers.sse.telemetry import (CaseInsensitiveCarrier, bounded_exception_attributes, check_annotation,
                                    xray_trace_id)
from tests.sse.harness import REPO, function_environment, new_parent, new_root, trace_header


def _extract(headers):
    ctx = AwsXRayLambdaPropagator().extract(CaseInsensitiveCarrier(headers), context=Context())
    return trace.get_current_span(ctx).get_span_context()


def test_d2_carrier_is_case_insensitive(monkeypatch):
    """D2: the Web Adapter forwards `x-amzn-trace-id`; any spelling must yield the same context."""
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    root, parent = new_root(), new_parent()
    for name in ("x-amzn-trace-id", "X-Amzn-Trace-Id", "X-AMZN-TRACE-ID"):
        sc = _extract({name: trace_header(root, parent)})
        assert xray_trace_id(sc.trace_id) == root and f"{sc.span_id:016x}" == parent and sc.trace_flags.sampled


def test_fr052_env_trace_id_wins_when_set_and_traceparent_never(monkeypatch):
    """FR-052/FR-059: `_X_AMZN_TRACE_ID` (set per invocation by a bootstrap) wins over the header; a W3C
    traceparent alone gives no parent at all."""
    env_root, env_parent = new_root(), new_parent()
    monkeypatch.setenv("_X_AMZN_TRACE_ID", trace_header(env_root, env_parent))
    sc = _extract({"x-amzn-trace-id": trace_header(new_root(), new_parent())})
    assert xray_trace_id(sc.trace_id) == env_root
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    assert not _extract({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}).is_valid


def test_d10_annotations_are_checked_loudly():
    """D10: a None, a list or a bad key raises at the call site instead of being dropped by X-Ray."""
    assert check_annotation("latency_ms", 1.5) == 1.5
    with pytest.raises(TypeError):
        check_annotation("latency_ms", None)
    with pytest.raises(TypeError):
        check_annotation("tickers", ["AAPL"])
    with pytest.raises(ValueError):
        check_annotation("bad-key", 1)
    with pytest.raises(ValueError):
        check_annotation("title", "x" * 1001)


def test_fr058_exception_attributes_are_bounded():
    """FR-058: error messages <= 2,048 chars and <= 10 stack frames."""
    def recurse(n):
        if n == 0:
            raise ValueError("m" * 10_000)
        recurse(n - 1)

    with pytest.raises(ValueError) as info:
        recurse(30)
    attrs = bounded_exception_attributes(info.value)
    assert len(attrs["exception.message"]) == 2048
    assert attrs["exception.stacktrace"].count('File "') == 10


def test_contract_matches_the_program():
    """The image restates the schema's names (its build context is handlers/sse); they must not drift,
    and the Function URL's CORS block must be the one the browser test exercises (FR-015/082/119)."""
    assert contract.SSE_NAMESPACE == schema.SSE_NAMESPACE
    assert contract.RESOLUTIONS == schema.RESOLUTIONS
    assert set(cors.ALLOW_HEADERS) == set(streaming_lambda.ALLOW_HEADERS)
    assert set(cors.EXPOSE_HEADERS) == set(streaming_lambda.EXPOSE_HEADERS)
    assert cors.MAX_AGE == streaming_lambda.CORS_MAX_AGE_SECONDS


@pytest.mark.parametrize("override, needle", [
    ({"OTEL_TRACES_SAMPLER": "always_on"}, "FR-056"),
    ({"OTEL_PROPAGATORS": "tracecontext,xray"}, "FR-052"),
    ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "FR-054"),
    ({"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-handler"}, "FR-046"),
    ({"OTEL_SERVICE_NAME": "other"}, "FR-047"),
])
def test_fr106_a_broken_otel_environment_fails_at_startup(override, needle):
    """FR-106: a setting that breaks the trace contract stops the app (no silent fallback)."""
    env = function_environment("http://127.0.0.1:9", {"ITEMS_TABLE": "i", "USERS_TABLE": "u"}, "http://127.0.0.1:9",
                               **override)
    done = subprocess.run([sys.executable, "-c", "from handlers.sse.app import service; service()"], cwd=REPO,
                          env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and needle in done.stderr


def test_cors_constants_allow_what_the_client_sends():
    assert {"x-amzn-trace-id", "last-event-id", "authorization"} <= set(cors.ALLOW_HEADERS)
    assert cors.EXPOSE_HEADERS == ("x-amzn-trace-id",) and cors.MAX_AGE == 7200


def test_fr057_image_pins_match_the_repository_pins():
    """FR-057: the image installs the four OTel packages (plus the API), starlette, uvicorn and boto3, at the
    versions the tests ran with; the Dockerfile never sets the exec wrapper (FR-046)."""
    def pins(path):
        return dict(line.split("==") for line in path.read_text().splitlines() if "==" in line and not line.startswith("#"))

    image, root = pins(REPO / "handlers/sse/requirements.txt"), pins(REPO / "requirements.txt")
    assert {"opentelemetry-sdk", "opentelemetry-sdk-extension-aws", "opentelemetry-propagator-aws-xray",
            "opentelemetry-exporter-otlp-proto-http", "starlette", "uvicorn", "boto3"} <= set(image)
    assert all(root[name] == version for name, version in image.items())
    dockerfile = (REPO / "handlers/sse/Dockerfile").read_text()
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in dockerfile.replace("No AWS_LAMBDA_EXEC_WRAPPER", "")
    assert "/opt/collector-config/config.yaml" in dockerfile and "/opt/extensions/" in dockerfile


_LOG_SCRIPT = r'''
import asyncio, json, sys
import handlers.sse.app as app
from handlers.sse.log import current_trace_id, get_logger

log = get_logger()

async def stream(trace_id, n):
    current_trace_id.set(trace_id)
    for i in range(n):
        log.info("tick", extra={"stream": trace_id, "i": i})
        await asyncio.sleep(0)
    await app.run_io(lambda: log.info("from io thread", extra={"stream": trace_id}))

async def main():
    await asyncio.gather(stream("1-5759e988-bd862e3fe1be46a994272793", 3), stream("1-5759e988-00000000000000000000beef", 3))
    try:
        raise ValueError("x" * 5000)
    except ValueError:
        log.exception("failed", extra={"stream": None})

asyncio.run(main())
print(json.dumps({"modules": sorted(m for m in sys.modules if m.startswith(("aws_xray_sdk", "wrapt")))}))
'''


def test_d12_fr012_powertools_logger_per_stream_trace_id_without_the_xray_sdk():
    """D12/FR-012: the SSE app logs through Powertools Logger (JSON, Powertools field names); each line's
    top-level `xray_trace_id` is that of the stream that wrote it, also from an IO thread, while streams
    interleave; tracebacks are bounded (D10). FR-060: the X-Ray SDK is never loaded (Powertools' package
    ``__init__`` imports its tracer module, which loads the SDK only when a Tracer is built). The image pins
    Powertools (FR-057)."""
    env = function_environment("http://127.0.0.1:9", {"ITEMS_TABLE": "i", "USERS_TABLE": "u"}, "http://127.0.0.1:9")
    done = subprocess.run([sys.executable, "-c", _LOG_SCRIPT], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    import json

    *lines, tail = [json.loads(line) for line in done.stdout.splitlines()]
    assert tail == {"modules": []}
    ticks = [line for line in lines if line.get("stream")]
    assert len(ticks) == 8
    assert all(line["xray_trace_id"] == line["stream"] for line in ticks)
    assert [line["stream"][-4:] for line in ticks[:4]] == ["2793", "beef", "2793", "beef"]  # interleaved
    assert all({"level", "location", "message", "timestamp", "service"} <= set(line) for line in lines)
    assert {line["service"] for line in lines} == {"sentiment-sse"}
    failed = lines[-1]
    assert failed["level"] == "ERROR" and failed["exception_name"] == "ValueError"
    assert len(failed["exception"]) <= 2048 and len(failed["stack_trace"]["frames"]) <= 10
    assert "xray_trace_id" not in failed  # no stream current: nothing made up
    from pathlib import Path

    assert "aws-lambda-powertools==" in Path(REPO / "handlers/sse/requirements.txt").read_text()
