"""Gaps closed after the first pass, each asserted on what reaches the wire (daemon stand-in, moto, log lines).

* FR-205/206: the analysis fan-out's deadline early-return (``flush_reason="deadline"``), and its retry.
* A dead, absent or locally refused X-Ray daemon neither hangs nor fails a handler (UDP is fire-and-forget).
* FR-013 / SC-008: a warm invocation with the same Root and a new Parent hangs ``## handler`` off the NEW Parent;
  an invocation without ``_X_AMZN_TRACE_ID`` never files documents under the previous invocation's trace.
* FR-018: instrumentation and deployment errors propagate out of silent-failure blocks and worker threads.
"""
from __future__ import annotations

import ast
import logging
import socket
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from contract import env, metrics
from contract.data import RESOLUTIONS
from tests.handlers.conftest import (
    ENV_DIMS,
    HANDLERS,
    SCHEDULED,
    FakeContext,
    H,
    by_name,
    lambda_name,
    marked,
    new_trace_header,
    one,
    sns_event,
)


def _pending(world, source_id: str = "tiingo#abc", ticker: str = "AAPL") -> dict:
    """A pending item in the items table and the analysis message SNS would deliver for it."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    world.aws.client("dynamodb").put_item(TableName=world.env[env.ITEMS_TABLE], Item={
        "source_id": {"S": source_id}, "timestamp": {"S": now}, "status": {"S": "pending"}})
    return {"source_id": source_id, "timestamp": now, "ticker": ticker,
            "text": "Apple delivers a superb, wonderful quarter"}


def _item(world) -> dict:
    (item,) = world.aws.client("dynamodb").scan(TableName=world.env[env.ITEMS_TABLE])["Items"]
    return item


def _series_rows(world) -> list[dict]:
    return world.aws.client("dynamodb").scan(TableName=world.env[env.TIMESERIES_TABLE])["Items"]


def _silent_count(world, function: str, path: str) -> float:
    return world.metric_sum(metrics.SILENT_FAILURE_NAMESPACE, metrics.SILENT_FAILURE_METRIC,
                            {metrics.FUNCTION_DIMENSION: lambda_name(function), metrics.FAILURE_PATH_DIMENSION: path})


def _metadata(doc: dict, key: str):
    found = [ns[key] for ns in (doc.get("metadata") or {}).values() if isinstance(ns, dict) and key in ns]
    assert len(found) == 1, f"metadata {key!r} not found once in {doc.get('metadata')}"
    return found[0]


# -- FR-205/206: deadline early-return of the time-series fan-out ------------------------------------------------------
def test_fanout_deadline_fails_cleanly_and_the_retry_completes_fr205_fr206(lam, world, daemon):
    """FR-205/206, nothing lost: with less than DEADLINE_SAFETY_MS left the analysis is not started.

    The ``fanout_partial_write`` subsegment is error-marked (``flush_reason=deadline``, ``ticker_symbol``,
    ``failed_buckets`` = all of them), SilentFailure and AnalysisErrors are counted, a warning line carries the trace
    id, and the invocation fails with FanoutPartialWrite (so SNS retries) instead of running into the timeout.
    Nothing was written: the item is still pending. The retry, with time, writes the whole analysis once.
    """
    message = _pending(world)
    margin = H.analysis.DEADLINE_SAFETY_MS
    context = FakeContext(lambda_name("analysis"), remaining_ms=lambda: margin - 1)

    inv = lam.invoke("analysis", sns_event(message), context=context, expect_error=True)

    assert isinstance(inv.error, H.analysis.FanoutPartialWrite) and "deadline" in str(inv.error)
    docs = inv.docs(daemon)
    assert one(docs, "## handler")["fault"] is True
    sub = one(docs, "fanout_partial_write")
    assert marked(sub) and sub["cause"]["exceptions"][0]["type"] == "FanoutPartialWrite"
    assert sub["annotations"]["flush_reason"] == "deadline"
    assert sub["annotations"]["ticker_symbol"] == "AAPL"
    assert sub["annotations"]["failed_buckets"] == ",".join(RESOLUTIONS)
    assert sub["annotations"]["failure_path"] == "fanout_partial_write"
    details = _metadata(sub, "fanout")
    assert details["flush_reason"] == "deadline" and details["failed_buckets"] == ",".join(RESOLUTIONS)
    assert details["written_buckets"] == "" and details["remaining_ms"] == margin - 1
    assert not [d for d in by_name(docs, "dynamodb") if d["aws"]["operation"] == "TransactWriteItems"]
    assert _series_rows(world) == []
    assert _silent_count(world, "analysis", "fanout_partial_write") == 1.0
    assert world.metric_sum(metrics.APP_NAMESPACE, metrics.ANALYSIS_ERRORS, ENV_DIMS) == 1.0
    warnings = [line for line in lam.logs.lines if line.get("failure_path") == "fanout_partial_write"]
    assert len(warnings) == 1 and warnings[0]["level"] == "WARNING" and warnings[0]["xray_trace_id"] == inv.root
    assert "deadline" in warnings[0]["exception_message"]
    assert _item(world)["status"]["S"] == "pending"

    retry = lam.invoke("analysis", sns_event(message))
    assert retry.result == {"analyzed": 1, "skipped": 0}
    assert sorted(r["pk"]["S"] for r in _series_rows(world)) == sorted(f"AAPL#{r}" for r in RESOLUTIONS)
    assert {r["count"]["N"] for r in _series_rows(world)} == {"1"}
    assert _item(world)["status"]["S"] == "analyzed"


def test_fanout_with_time_left_writes_every_bucket_fr205(lam, world, daemon):
    """FR-205 control: at exactly the margin the fan-out goes on; nothing is marked, no SilentFailure."""
    message = _pending(world)
    context = FakeContext(lambda_name("analysis"), remaining_ms=lambda: H.analysis.DEADLINE_SAFETY_MS)
    inv = lam.invoke("analysis", sns_event(message), context=context)
    docs = inv.docs(daemon)
    sub = one(docs, "fanout_partial_write")
    assert not marked(sub) and "flush_reason" not in sub.get("annotations", {})
    assert len(_series_rows(world)) == len(RESOLUTIONS)
    assert _silent_count(world, "analysis", "fanout_partial_write") == 0.0


# -- a dead or absent daemon: UDP is fire-and-forget --------------------------------------------------------------------
@pytest.fixture
def udp_sink():
    """A UDP socket bound on 127.0.0.1 that nobody ever reads (a hung daemon)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def _closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("setup", ["closed_port", "never_reads", "local_refusal"])
def test_dead_daemon_never_hangs_or_fails_a_handler(setup, lam, world, daemon, monkeypatch, udp_sink, caplog):
    """The emitter is built from AWS_XRAY_DAEMON_ADDRESS (as at a cold start) pointing at a dead daemon.

    closed_port: nothing listens (ICMP unreachable is ignored by an unconnected UDP socket); never_reads: a hung
    daemon; local_refusal: 255.255.255.255, which the kernel refuses to send to (EACCES) — the unroutable case.
    The handler returns its business result quickly, every document was really handed to the socket, nothing
    reaches the live stand-in, and the logs hold at most ONE warning (never an ERROR). Then the daemon "comes
    back" (the original emitter) and the next invocation's documents flow again.
    """
    from aws_xray_sdk.core import xray_recorder  # noqa: PLC0415

    address = {"closed_port": f"127.0.0.1:{_closed_port()}",
               "never_reads": "{}:{:d}".format(*udp_sink.getsockname()),
               "local_refusal": "255.255.255.255:2000"}[setup]
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", address)
    dead = H.common.tracing.BoundedUDPEmitter()  # reads the variable, as the import in a cold Lambda does
    assert f"{dead.ip}:{dead.port}" == address
    attempts: list[int] = []
    send = dead._send_data

    def counted_send(data: str) -> Any:
        attempts.append(len(data))
        return send(data)
    dead._send_data = counted_send
    live = xray_recorder.emitter
    caplog.set_level(logging.WARNING)
    message = _pending(world)
    xray_recorder.emitter = dead
    try:
        started = time.monotonic()
        inv = lam.invoke("analysis", sns_event(message))
        elapsed = time.monotonic() - started
    finally:
        xray_recorder.emitter = live
        dead._socket.close()
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.address)

    assert inv.result == {"analyzed": 1, "skipped": 0}
    assert len(_series_rows(world)) == len(RESOLUTIONS)  # the whole business flow ran
    assert elapsed < 3.0, f"handler took {elapsed:.2f}s with a dead daemon"
    assert len(attempts) >= 3  # ## handler, fanout_partial_write and its dynamodb transaction were sent
    daemon_warnings = [line for line in lam.logs.lines if "daemon" in line.get("message", "")]
    assert not [line for line in lam.logs.lines if line["level"] in ("ERROR", "CRITICAL")]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    if setup == "local_refusal":
        assert len(daemon_warnings) == 1  # one per invocation, not one per document
        line = daemon_warnings[0]
        assert line["level"] == "WARNING" and line["daemon_address"] == address
        assert line["exception_type"] == "PermissionError" and line["xray_trace_id"] == inv.root
    else:
        assert daemon_warnings == []  # UDP gives the sender nothing to notice
    # the daemon is back: the next invocation is traced again, and nothing of the first one ever arrived
    after = lam.invoke("analysis", sns_event(_pending(world, "tiingo#def")))
    after.docs(daemon)
    # (the test's own boto3 calls made while _X_AMZN_TRACE_ID still names inv.root hang off the facade: not the handler's)
    handlers_own = [d for d in daemon.for_trace(inv.root) if d["name"] == "## handler" or d["parent_id"] != inv.parent]
    assert handlers_own == [], [(d["name"], d["parent_id"]) for d in handlers_own]


# -- FR-013 / SC-008: warm invocation, same Root, new Parent --------------------------------------------------------------
def test_warm_same_root_new_parent_hangs_handler_off_new_parent_fr013(lam, world, daemon):
    """FR-013 / SC-008: two SNS deliveries of one ingestion trace reach the same warm analysis instance.

    The SDK's LambdaContext refreshes only when the Root changes; handler_boundary must clear the stale facade,
    so the second ``## handler`` has ``parent_id`` == the second Parent and its children hang under it.
    """
    root, first_parent, _ = new_trace_header()
    second_parent = "b" * 16
    first = lam.invoke("analysis", sns_event(_pending(world, "tiingo#one")),
                       header=(root, first_parent, f"Root={root};Parent={first_parent};Sampled=1"))
    first.docs(daemon)
    second = lam.invoke("analysis", sns_event(_pending(world, "finnhub#two")),
                        header=(root, second_parent, f"Root={root};Parent={second_parent};Sampled=1"))
    assert second.result == {"analyzed": 1, "skipped": 0}
    docs = daemon.wait_for(lambda ds: len(by_name([d for d in ds if d.get("trace_id") == root], "## handler")) == 2)
    handlers = by_name([d for d in docs if d.get("trace_id") == root], "## handler")
    by_parent = {h["parent_id"]: h for h in handlers}
    assert set(by_parent) == {first_parent, second_parent}
    assert by_parent[second_parent]["annotations"]["ColdStart"] is False
    fanouts = by_name(daemon.for_trace(root), "fanout_partial_write")
    assert {f["parent_id"] for f in fanouts} == {by_parent[first_parent]["id"], by_parent[second_parent]["id"]}


def test_missing_trace_header_never_reuses_previous_trace(lam, world, daemon):
    """FR-012/FR-059 analogue: with ``_X_AMZN_TRACE_ID`` absent, the SDK would keep the previous segment and file
    this invocation under the previous trace id; handler_boundary clears it, so nothing is misattributed."""
    first = lam.invoke("analysis", sns_event(_pending(world, "tiingo#one")))
    first.docs(daemon)
    bare = lam.invoke("analysis", sns_event(_pending(world, "finnhub#two")), header=(None, None, None))
    assert bare.result == {"analyzed": 1, "skipped": 0}
    last = lam.invoke("analysis", sns_event(_pending(world, "tiingo#three")))
    last.docs(daemon)  # datagrams arrive in order: the bare invocation's, if any, are in by now
    assert len(by_name(daemon.for_trace(first.root), "## handler")) == 1
    assert len(by_name(daemon.for_trace(first.root), "fanout_partial_write")) == 1


# -- FR-018: instrumentation/deployment errors are never swallowed ---------------------------------------------------------
def test_missing_environment_inside_silent_block_propagates_fr018(lam, world, daemon, monkeypatch):
    """FR-018: a MissingEnvironmentError raised inside a silent-failure block is a deployment error: it fails the
    invocation and is not counted as that path's SilentFailure."""
    common = H.common

    @common.tracer.capture_lambda_handler
    def misconfigured(event, context):
        monkeypatch.delenv(env.ENVIRONMENT)
        with common.silent_failure("audit_trail"):
            common.put_metrics(metrics.APP_NAMESPACE, {metrics.ANALYSIS_ERRORS: 1})

    inv = lam.invoke("ingestion", {}, handler=misconfigured, expect_error=True)
    assert isinstance(inv.error, common.MissingEnvironmentError) and env.ENVIRONMENT in str(inv.error)
    docs = daemon.wait_for_names(inv.root, {"## misconfigured"})
    assert one(docs, "## misconfigured")["fault"] is True
    assert _silent_count(world, "ingestion", "audit_trail") == 0.0
    assert not [line for line in lam.logs.lines if line.get("failure_path") == "audit_trail"]


def test_instrumentation_error_in_parallel_worker_propagates_fr018(lam, world, fakes, daemon, monkeypatch):
    """FR-018: an InstrumentationError in a run_parallel worker (a fetcher misusing the facade) fails the ingestion
    invocation; it is not aggregated into a "source failed" parallel_fetcher_aggregate silent failure."""
    common = H.common

    def misusing_fetcher(*_args, **_kwargs):
        common.annotate(source=None)

    monkeypatch.setattr(H.ingestion, "fetch_tiingo", misusing_fetcher)
    inv = lam.invoke("ingestion", SCHEDULED, expect_error=True)
    assert isinstance(inv.error, common.InstrumentationError) and "source" in str(inv.error)
    docs = inv.docs(daemon)
    assert one(docs, "## handler")["fault"] is True
    assert not [d for d in by_name(docs, "parallel_fetcher_aggregate") if marked(d)]
    assert _silent_count(world, "ingestion", "parallel_fetcher_aggregate") == 0.0
    errors = [line for line in lam.logs.lines if line["level"] == "ERROR" and line.get("exception_type")]
    assert [line["exception_type"] for line in errors] == ["InstrumentationError"]


def test_no_swallowing_except_in_common_fr018():
    """FR-018: no bare ``except:`` / ``except BaseException`` in handlers/common or analysis, and every
    ``except Exception`` either re-raises or sits after a handler that re-raises the NEVER_SWALLOWED errors."""
    for path in sorted((HANDLERS / "common").glob("*.py")) + [HANDLERS / "analysis" / "app.py"]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Try):
                continue
            guarded = False
            for handler in node.handlers:
                where = f"{path.relative_to(HANDLERS)}:{handler.lineno}"
                names = {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(handler.type)
                         if isinstance(n, (ast.Name, ast.Attribute))} if handler.type else set()
                reraises = any(isinstance(n, ast.Raise) for n in ast.walk(handler))
                assert handler.type is not None, f"{where}: bare except"
                assert "BaseException" not in names, f"{where}: except BaseException"
                if names & {"NEVER_SWALLOWED", "InstrumentationError"} and reraises:
                    guarded = True
                if "Exception" in names:
                    assert reraises or guarded, f"{where}: except Exception swallows without re-raising FR-018 errors"
