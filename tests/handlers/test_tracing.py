"""Trace plumbing checked on the documents that reach the daemon stand-in (US1, US5, D4, D10, D12).

FR-012, FR-013, FR-030/SC-012, FR-031, FR-037, FR-058/SC-025, SC-006, SC-008, SC-026, Sampled=0.
"""
from __future__ import annotations

import ast
import json

import pytest

from contract import env, metrics
from contract.data import FAILURE_PATH_OWNER
from contract.xray import (
    ANNOTATION_BUDGET_BUFFERED,
    MAX_ANNOTATION_STR,
    MAX_ANNOTATIONS_PER_TRACE,
    MAX_DOCUMENT_BYTES,
    MAX_ERROR_MESSAGE,
    MAX_STACK_FRAMES,
    TRACE_ID,
)
from tests.handlers.conftest import (
    BUFFERED,
    ENV_DIMS,
    HANDLERS,
    IMPORT_SERVICE,
    SCHEDULED,
    H,
    by_name,
    marked,
    one,
    sns_event,
    sns_record,
)


def _news(fakes, n: int = 1) -> None:
    for i in range(n):
        fakes.tiingo.add("AAPL", f"Apple shares rally on strong results {i}", "Investors cheer")
        fakes.finnhub.add("MSFT", f"Microsoft cloud growth slows {i}", "Analysts worry")


def _connected(docs: list[dict], inv) -> None:
    """Every document carries the invocation's trace id and hangs off the tree rooted at the Lambda's Parent."""
    ids = {d["id"] for d in docs}
    assert {d["trace_id"] for d in docs} == {inv.root}
    for d in docs:
        assert d["parent_id"] in ids or (d["name"] == "## handler" and d["parent_id"] == inv.parent), d["name"]


def test_every_subsegment_carries_its_invocation_trace_id_warm_and_new_root(lam, fakes, daemon):
    """SC-026 / FR-059 analogue: a warm second invocation with a new Root gets only the new id, parented correctly."""
    _news(fakes)
    first = lam.invoke("ingestion", SCHEDULED)
    docs1 = first.docs(daemon)
    _news(fakes, 2)
    second = lam.invoke("ingestion", SCHEDULED)
    docs2 = second.docs(daemon)
    _connected(docs1, first)
    _connected(docs2, second)
    assert one(docs2, "## handler")["annotations"]["ColdStart"] is False
    assert not set(d["id"] for d in docs1) & set(d["id"] for d in docs2)
    # the parallel fetchers ran in worker threads and still nest under the handler (context handed over)
    handler_id = one(docs2, "## handler")["id"]
    fetchers = [d for d in docs2 if d["name"].endswith(("fetch_tiingo", "fetch_finnhub"))]
    assert len(fetchers) == 2 and {d["parent_id"] for d in fetchers} == {handler_id}


def test_unsampled_invocation_emits_nothing(lam, fakes, daemon, world):
    """Sampled=0: no document at all, while the business work happens (metrics are sampling-independent)."""
    _news(fakes)
    unsampled = lam.invoke("ingestion", SCHEDULED, sampled=False)
    assert unsampled.result["new_items"] == 2
    sampled = lam.invoke("ingestion", SCHEDULED)  # datagrams arrive in order: once this one is in, the other would be
    sampled.docs(daemon)
    assert daemon.for_trace(unsampled.root) == []
    assert world.metric_sum(metrics.INGESTION_NAMESPACE, metrics.NEW_ITEMS_INGESTED, ENV_DIMS) == 2.0


def test_one_subsegment_per_boto3_call(lam, fakes, daemon):
    """FR-030 / SC-012: one patching mechanism -> exactly one ``aws`` subsegment per request sent, no HTTP duplicate."""
    sent: list[str] = []
    for c in (H.common.dynamodb().meta.client, H.common.client("dynamodb"), H.common.client("sns"),
              H.common.client("cloudwatch")):
        c.meta.events.register("before-send", lambda request, **kw: sent.append(kw["event_name"].split(".")[-1]))
    _news(fakes)
    docs = lam.invoke("ingestion", SCHEDULED).docs(daemon)
    aws_docs = [d for d in docs if d.get("namespace") == "aws" and d["name"] != "secretsmanager"]
    assert sorted(d["aws"]["operation"] for d in aws_docs) == sorted(sent)
    assert len(by_name(docs, "secretsmanager")) == 1
    remote = [d for d in docs if d.get("namespace") == "remote"]
    assert {d["name"] for d in remote} == {"tiingo_api", "finnhub_api"}  # no httplib twin of any AWS call


def test_sns_hop_carries_the_trace_to_analysis(lam, fakes, daemon, world):
    """FR-013 / SC-008: the publish carries X-Amzn-Trace-Id (Root, Parent=the sns subsegment); analysis joins the trace."""
    headers = []
    H.common.client("sns").meta.events.register(
        "before-send.sns.PublishBatch", lambda request, **kw: headers.append(request.headers["X-Amzn-Trace-Id"]))
    fakes.tiingo.add("AAPL", "Apple posts outstanding, excellent growth", "Superb")
    ingestion = lam.invoke("ingestion", SCHEDULED)
    docs = ingestion.docs(daemon)
    sns_doc = [d for d in by_name(docs, "sns") if d["aws"]["operation"] == "PublishBatch"][0]
    header = headers[0] if isinstance(headers[0], str) else headers[0].decode()
    assert header == f"Root={ingestion.root};Parent={sns_doc['id']};Sampled=1"
    # what SNS delivers (the real envelope via the SQS tap), invoked the way Lambda does with AWSTraceHeader
    envelope = json.loads(world.aws.client("sqs").receive_message(QueueUrl=world.analysis_queue)["Messages"][0]["Body"])
    analysis = lam.invoke("analysis", {"Records": [sns_record(envelope)]},
                          header=(ingestion.root, sns_doc["id"], header))
    adocs = daemon.wait_for(lambda ds: len(by_name([d for d in ds if d.get("trace_id") == ingestion.root], "## handler")) == 2)
    handlers = by_name([d for d in adocs if d.get("trace_id") == ingestion.root], "## handler")
    assert {h["parent_id"] for h in handlers} == {ingestion.parent, sns_doc["id"]}
    assert analysis.result == {"analyzed": 1, "skipped": 0}


def test_trace_id_is_a_top_level_field_of_every_log_line(lam, fakes, daemon):
    """FR-012 / US5 / D12: every line of an invocation (info, warning, error) has xray_trace_id == its Root."""
    fakes.finnhub.fail(500)  # a warning line too
    _news(fakes)
    inv = lam.invoke("ingestion", SCHEDULED)
    bad = lam.invoke("analysis", {"Records": "nope"}, expect_error=True)
    roots = {inv.root, bad.root}
    assert {line["level"] for line in lam.logs.lines} >= {"INFO", "WARNING", "ERROR"}
    assert all(line["xray_trace_id"] in roots for line in lam.logs.lines)
    assert all(TRACE_ID.fullmatch(root) for root in roots)
    assert all("correlation_id" not in line for line in lam.logs.lines)


def test_no_correlation_id_functions_no_patch_all_no_async_context():
    """SC-006 / FR-010/011/024, FR-030, FR-037: checked on the handlers' syntax trees (not on comments)."""
    for path in HANDLERS.glob("*/**/*.py"):
        if path.parts[-2] in ("sse", "canary") or "sse" in path.parts or "canary" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
            n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | {
            n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not names & {"get_correlation_id", "generate_correlation_id", "patch_all", "AsyncContext"}, path


def test_capture_method_never_on_an_async_generator():
    """FR-031: no capture_method (or any decorator) on an ``async def`` that yields."""
    for name in BUFFERED + ("common",):
        for path in (HANDLERS / name).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.AsyncFunctionDef) and any(
                        isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node)):
                    assert not node.decorator_list, f"{path}:{node.lineno} decorated async generator"


def test_huge_exception_message_and_metadata_stay_under_64kb(lam, daemon):
    """FR-058 / SC-025 / D10: a 200 KB message and a 30-deep stack are cut to the document bounds, and every
    document stays under X-Ray's per-document limit and is delivered."""
    common = H.common

    def deep(n: int):
        if n == 0:
            raise ValueError("x" * 200_000)
        deep(n - 1)

    @common.tracer.capture_lambda_handler
    def explode(event, context):
        common.put_metadata("big_list", list(range(50_000)))
        common.tracer.put_metadata("raw_blob", "y" * 100_000)  # bypassing the facade: the emitter still bounds it
        with common.silent_failure("audit_trail"):
            deep(30)
        deep(30)

    inv = lam.invoke("ingestion", {}, handler=explode, expect_error=True)
    daemon.wait_for_names(inv.root, {"## explode", "audit_trail"})
    received = [r for r in daemon.received if r.doc.get("trace_id") == inv.root]
    assert all(r.size <= MAX_DOCUMENT_BYTES for r in received)
    for r in received:
        for exc in (r.doc.get("cause") or {}).get("exceptions", []) if isinstance(r.doc.get("cause"), dict) else []:
            assert len(exc["message"]) <= MAX_ERROR_MESSAGE and len(exc.get("stack", [])) <= MAX_STACK_FRAMES
    handler_doc = one([r.doc for r in received], "## explode")
    assert handler_doc["fault"] is True and handler_doc["metadata"]["bounds"]["metadata_dropped"] is True
    assert len(handler_doc["cause"]["exceptions"][0]["message"]) == MAX_ERROR_MESSAGE
    assert marked(one([r.doc for r in received], "audit_trail"))


def test_annotation_checks_fail_loudly():
    """D10: keys [A-Za-z0-9_], values bounded str/int/float/bool; anything else raises at the call site."""
    common = H.common
    for bad in ({"bad-key": 1}, {"k": None}, {"k": [1]}, {"k": {"a": 1}}, {"k": "x" * (MAX_ANNOTATION_STR + 1)}):
        with pytest.raises(common.InstrumentationError):
            common.annotate(**bad)
    with pytest.raises(common.InstrumentationError):
        common.put_metadata("no spaces", 1)


def test_annotation_budget_per_trace_overflows_to_metadata(lam, daemon):
    """D10: a bounded number of annotation keys per invocation; the rest goes to metadata, nothing dropped."""
    common = H.common
    keys = {f"k{i}" for i in range(ANNOTATION_BUDGET_BUFFERED + 5)}

    @common.tracer.capture_lambda_handler
    def chatty(event, context):
        common.annotate(**{k: 1 for k in sorted(keys)})

    inv = lam.invoke("ingestion", {}, handler=chatty)
    doc = one(daemon.wait_for_names(inv.root, {"## chatty"}), "## chatty")
    assert len(doc["annotations"]) == ANNOTATION_BUDGET_BUFFERED  # ours + ColdStart + Service
    assert {"ColdStart", "Service"} <= set(doc["annotations"])
    overflow = doc["metadata"][IMPORT_SERVICE]["annotations_overflow"]
    assert set(overflow) | {k for k in doc["annotations"] if k.startswith("k")} == keys


def test_annotation_keys_per_trace_within_budget(lam, fakes, daemon):
    """D10 / SC-025: counted over a real ingestion -> analysis trace, keys per function and per trace in budget."""
    fakes.finnhub.fail(500)
    _news(fakes)
    ing = lam.invoke("ingestion", SCHEDULED)
    ing_keys = {k for d in ing.docs(daemon) for k in d.get("annotations", {})}
    msg = lam.world.messages(lam.world.analysis_queue)[0]
    ana = lam.invoke("analysis", sns_event(msg), header=(ing.root, "a" * 16, f"Root={ing.root};Parent={'a' * 16};Sampled=1"))
    docs = daemon.wait_for(lambda ds: len(by_name([d for d in ds if d.get("trace_id") == ing.root], "## handler")) == 2)
    all_keys = [k for d in docs if d.get("trace_id") == ing.root for k in d.get("annotations", {})]
    assert len(ing_keys) <= ANNOTATION_BUDGET_BUFFERED and len(set(all_keys)) <= MAX_ANNOTATIONS_PER_TRACE
    assert ana.result["analyzed"] == 1


def test_failure_paths_owned_by_buffered_handlers():
    """Every D5 path's alarm watches a function that exists among the buffered handlers."""
    assert set(FAILURE_PATH_OWNER.values()) <= set(BUFFERED)


def test_missing_environment_is_a_clear_error(lam, monkeypatch):
    """Handlers read their variables fail-fast and name every missing one."""
    monkeypatch.delenv(env.ITEMS_TABLE)
    monkeypatch.delenv(env.ANALYSIS_TOPIC_ARN)
    inv = lam.invoke("ingestion", SCHEDULED, expect_error=True)
    assert isinstance(inv.error, H.common.MissingEnvironmentError)
    assert env.ITEMS_TABLE in str(inv.error) and env.ANALYSIS_TOPIC_ARN in str(inv.error)
