"""Fast in-process checks of the pieces the wire tests cannot isolate (no OTel global state is touched:
these use the propagator and helpers directly, never a TracerProvider), and of what the image carries."""
from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator

from contract import streaming
from contract.xray import MAX_ANNOTATION_STR, MAX_ERROR_MESSAGE, MAX_STACK_FRAMES
from handlers.sse.feed import EventId
from handlers.sse.request import MAX_LAST_EVENT_ID, BadRequest, Reconnect, parse_deadline, parse_last_event_id
from handlers.sse.telemetry import CaseInsensitiveCarrier, bounded_exception_attributes, check_annotation, xray_trace_id
from standins.image import assemble, context_files, copies, ignore_rules, in_context
from tests.sse.harness import REPO, function_environment, new_parent, new_root, trace_header

#: Table names for a process that never reaches DynamoDB.
NO_TABLES = {"ITEMS_TABLE": "i", "USERS_TABLE": "u"}


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
        check_annotation("title", "x" * (MAX_ANNOTATION_STR + 1))


def test_fr058_exception_attributes_are_bounded():
    """FR-058: error messages and stack traces are cut to X-Ray's bounds."""
    def recurse(n):
        if n == 0:
            raise ValueError("m" * (MAX_ERROR_MESSAGE * 5))
        recurse(n - 1)

    with pytest.raises(ValueError) as info:
        recurse(MAX_STACK_FRAMES * 3)
    attrs = bounded_exception_attributes(info.value)
    assert len(attrs["exception.message"]) == MAX_ERROR_MESSAGE
    assert attrs["exception.stacktrace"].count('File "') == MAX_STACK_FRAMES


@pytest.mark.parametrize("override, needle", [
    ({"OTEL_TRACES_SAMPLER": "always_on"}, "FR-056"),
    ({"OTEL_PROPAGATORS": "tracecontext,xray"}, "FR-052"),
    ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "FR-054"),
    ({"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-handler"}, "FR-046"),
    ({"OTEL_SERVICE_NAME": "other"}, "FR-047"),
])
def test_fr106_a_broken_otel_environment_fails_at_startup(override, needle):
    """FR-106: a setting that breaks the trace contract stops the app (no silent fallback)."""
    env = function_environment("http://127.0.0.1:9", NO_TABLES, "http://127.0.0.1:9", **override)
    done = subprocess.run([sys.executable, "-c", "from handlers.sse.service import service; service()"], cwd=REPO,
                          env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and needle in done.stderr


def test_fr057_image_pins_match_the_repository_pins():
    """FR-057: the image installs the four OTel packages (plus the API), starlette, uvicorn, boto3 and PyJWT, at the
    versions the tests ran with; the Dockerfile never sets the exec wrapper (FR-046)."""
    def pins(path):
        return dict(line.split("==") for line in path.read_text().splitlines() if "==" in line and not line.startswith("#"))

    image, root = pins(REPO / "handlers/sse/requirements.txt"), pins(REPO / "requirements.txt")
    assert {"opentelemetry-sdk", "opentelemetry-sdk-extension-aws", "opentelemetry-propagator-aws-xray",
            "opentelemetry-exporter-otlp-proto-http", "starlette", "uvicorn", "boto3", "PyJWT", "cryptography"} <= set(image)
    assert all(root[name] == version for name, version in image.items())
    dockerfile = (REPO / "handlers/sse/Dockerfile").read_text()
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in dockerfile.replace("No AWS_LAMBDA_EXEC_WRAPPER", "")
    assert "/opt/collector-config/config.yaml" in dockerfile and "/opt/extensions/" in dockerfile


_LOG_SCRIPT = r'''
import asyncio, json, sys
from handlers.sse.log import current_trace_id, get_logger
from handlers.sse.service import run_io

log = get_logger()

async def stream(trace_id, n):
    current_trace_id.set(trace_id)
    for i in range(n):
        log.info("tick", extra={"stream": trace_id, "i": i})
        await asyncio.sleep(0)
    await run_io(lambda: log.info("from io thread", extra={"stream": trace_id}))

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
    env = function_environment("http://127.0.0.1:9", NO_TABLES, "http://127.0.0.1:9")
    done = subprocess.run([sys.executable, "-c", _LOG_SCRIPT], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    *lines, tail = [json.loads(line) for line in done.stdout.splitlines()]
    assert tail == {"modules": []}
    ticks = [line for line in lines if line.get("stream")]
    assert len(ticks) == 8
    assert all(line["xray_trace_id"] == line["stream"] for line in ticks)
    assert [line["stream"][-4:] for line in ticks[:4]] == ["2793", "beef", "2793", "beef"]  # interleaved
    assert all({"level", "location", "message", "timestamp", "service"} <= set(line) for line in lines)
    assert {line["service"] for line in lines} == {streaming.SERVICE_NAME}
    failed = lines[-1]
    assert failed["level"] == "ERROR" and failed["exception_name"] == "ValueError"
    assert len(failed["exception"]) <= MAX_ERROR_MESSAGE and len(failed["stack_trace"]["frames"]) <= MAX_STACK_FRAMES
    assert "xray_trace_id" not in failed  # no stream current: nothing made up
    assert "aws-lambda-powertools==" in (REPO / "handlers/sse/requirements.txt").read_text()


# -- request values (the wire test test_stream.test_hostile_values_are_400_and_leak_no_slot drives these) ----
def test_last_event_id_is_bounded_and_only_ascii_digits_make_a_position():
    """FR-081: any id is accepted (one not of this service's form starts at the live head), but only ASCII
    digits of bounded length are ever turned into a number, and a novel-sized header is refused."""
    assert parse_last_event_id(None) is None and parse_last_event_id("") is None
    assert parse_last_event_id("0a1b2c3d:42") == EventId("0a1b2c3d", 42)
    for foreign in ("x:1", "0a1b2c3d:²", "0a1b2c3d:" + "9" * 30, "0a1b2c3d:0", "0A1B2C3D:1"):
        assert parse_last_event_id(foreign) == EventId(None), foreign
    with pytest.raises(BadRequest):
        parse_last_event_id("0a1b2c3d:" + "9" * MAX_LAST_EVENT_ID)


@pytest.mark.parametrize("header", ['{"deadline": [1]}', '{"deadline": "soon"}', '{"deadline": true}',
                                    '{"deadline": -1}', '{"deadline": 1e999}', '[1]', 'not json',
                                    '{"deadline": 1' + '0' * 5000 + '}'])
def test_a_broken_lambda_context_header_is_a_bad_request(header):
    with pytest.raises(BadRequest, match="x-amzn-lambda-context"):
        parse_deadline(header)


def test_a_lambda_context_without_a_deadline_gives_none():
    assert parse_deadline(None) is None and parse_deadline('{"request_id": "r"}') is None
    assert parse_deadline('{"deadline": 1700000000000}') == 1.7e12


@pytest.mark.parametrize("value", ["²", "1²", "0", "1" * 8, "-1", " 1", "1.0"])
def test_connection_sequence_is_an_ascii_integer_from_1(value):
    with pytest.raises(BadRequest, match="connection_sequence"):
        Reconnect.from_query({"connection_sequence": value})


# -- the image -----------------------------------------------------------------------------------------
def _imported_packages(path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_the_image_context_holds_the_contract_and_nothing_but_what_is_copied():
    """The image's build context is the repository root through ``Dockerfile.dockerignore``: every module of
    ``contract/`` and of the app reaches the build and is copied (``contract`` to /var/task/contract), the
    collector's layer is let in once fetched, and nothing the Dockerfile does not copy is sent."""
    rules, files, cps = ignore_rules(), context_files(), copies()
    assert any(c.source.rstrip("/") == "contract" and c.destination.rstrip("/") == "/var/task/contract" for c in cps)
    needed = [p.relative_to(REPO).as_posix() for p in (*(REPO / "contract").glob("*.py"),
                                                       *(REPO / "handlers/sse").glob("*.py"))]
    needed += ["handlers/sse/requirements.txt", "handlers/sse/collector/config.yaml"]
    assert set(needed) <= set(files), sorted(set(needed) - set(files))
    assert all(any(c.matches(f) for c in cps) for f in needed)
    assert [f for f in files if not any(c.matches(f) for c in cps)] == []
    assert in_context("handlers/sse/collector/layer/extensions/collector", rules)
    for outside in ("standins/demo.py", "standins/function_url.py", "offline/otlp_receiver.py", "tests/sse/harness.py",
                    "components/streaming_lambda.py", "handlers/common/metrics.py", "web/sse-client.js",
                    "policies/contract/streaming.py", "handlers/sse/__pycache__/app.cpython-311.pyc"):
        assert not in_context(outside, rules), outside


def test_the_app_imports_only_itself_the_contract_and_its_pinned_packages():
    """A module of the image may import the standard library, ``contract``, ``handlers.sse`` and what
    ``handlers/sse/requirements.txt`` installs; anything else (a stand-in, a test helper, another
    handler) would be missing from the image."""
    installed = {"opentelemetry", "starlette", "uvicorn", "boto3", "botocore", "aws_lambda_powertools", "jwt"}
    for path in sorted((REPO / "handlers/sse").glob("*.py")):
        for name in _imported_packages(path):
            top = name.split(".")[0]
            ok = (top in sys.stdlib_module_names or top in installed or top == "contract"
                  or name == "handlers.sse" or name.startswith("handlers.sse."))
            assert ok, f"{path.name} imports {name}, which the image does not carry"


_IMAGE_SCRIPT = r'''
import importlib, json, pathlib, sys
here = pathlib.Path.cwd().resolve()
for path in sorted((here / "handlers/sse").glob("*.py")):
    importlib.import_module("handlers.sse." + path.stem if path.stem != "__init__" else "handlers.sse")
from handlers.sse.service import service
service()
project = ("contract", "handlers", "standins", "offline", "tests", "components", "policies", "bench")
loaded = {name: getattr(module, "__file__", None) for name, module in sys.modules.items()
          if name.split(".")[0] in project}
print(json.dumps({name: (pathlib.Path(f).resolve().is_relative_to(here) if f else None) for name, f in loaded.items()}))
'''


def test_the_app_starts_from_the_tree_the_dockerfile_copies_alone(tmp_path):
    """The image's /var/task is assembled from the build context by the Dockerfile's COPYs; the app's every
    module imports and the service starts from that tree, with nothing of the repository on the path."""
    task = assemble(tmp_path)
    assert (task / "contract/__init__.py").is_file() and (task / "handlers/sse/app.py").is_file()
    env = function_environment("http://127.0.0.1:9", NO_TABLES, "http://127.0.0.1:9")
    done = subprocess.run([sys.executable, "-c", _IMAGE_SCRIPT], cwd=task, env={**env, "PYTHONNOUSERSITE": "1"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"contract", "handlers.sse.app", "handlers.sse.stream"} <= set(loaded)
    assert {name for name, inside in loaded.items() if inside is False} == set()
    assert not {name.split(".")[0] for name in loaded} - {"contract", "handlers"}
