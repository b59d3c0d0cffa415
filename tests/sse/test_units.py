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
