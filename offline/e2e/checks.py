"""The checks of the end-to-end run: each returns a ``Check`` with its evidence (trace ids, resource names).

They read only what a user could observe — the documents that reached the X-Ray daemon stand-in, the spans at
the OTLP receiver, the HTTP responses, the emulated account's metrics and logs — and the declarations.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from contract import metrics as m
from contract.data import FAILURE_PATH_OWNER
from contract.xray import MAX_DOCUMENT_BYTES, MAX_ERROR_MESSAGE
from offline.e2e import collector_log, iam_fit
from offline.e2e.flows import FAILS_THE_INVOCATION, FOREIGN_ORIGIN, Evidence
from offline.e2e.runtime import Invocation
from offline.e2e.system import System, flatten

AWS_METRICS_TABLE = Path(__file__).resolve().parents[2] / "docs" / "aws-metrics.md"
#: Variables the Lambda runtime itself sets (and the runner, standing in for it): not the program's to declare.
RUNTIME_VARIABLES = {"PATH", "LANG", "TZ", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
                     "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
                     "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_EXECUTION_ENV", "AWS_XRAY_DAEMON_ADDRESS",
                     "AWS_XRAY_CONTEXT_MISSING", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "_X_AMZN_TRACE_ID"}
#: Runner-only variables: the endpoint override (boto3's AWS_ENDPOINT_URL) and the context's function ARN.
RUNNER_VARIABLES = {"AWS_ENDPOINT_URL", "E2E_FUNCTION_ARN"}


@dataclass
class Check:
    name: str
    ok: bool
    evidence: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"check": self.name, "ok": self.ok, "evidence": self.evidence}


# -- reading the daemon's documents ------------------------------------------------------------------------


def entities(system: System, trace_id: str) -> list[dict]:
    return [e for d in system.daemon.documents for e in flatten(d) if e.get("trace_id") == trace_id]


#: Calls the X-Ray SDK's botocore patch deliberately records no subsegment for (its own sampling pollers and
#: segment uploads; aws_xray_sdk/ext/botocore/patch.py).
UNTRACED = {("xray", "GetSamplingRules"), ("xray", "GetSamplingTargets"), ("xray", "PutTraceSegments")}


def _aws_calls(inv: Invocation) -> list[dict]:
    return [c for c in inv.calls if (c["service"], c["operation"]) not in UNTRACED]


# -- trace criteria ------------------------------------------------------------------------------------------
def sc001_sc008_pipeline_one_trace(system: System, ev: Evidence) -> Check:
    if not ev.pipeline or not ev.pipeline[0].ok:
        first = ev.pipeline[0] if ev.pipeline else None
        return Check("SC-001/SC-008 ingestion -> SNS -> analysis is one trace", False,
                     [f"ingestion failed: {first.error_type}: {first.error_message}" if first else "no ingestion run"])
    root = ev.pipeline[0].trace_id
    downstream = ev.pipeline[1:]
    ok = bool(downstream) and all(inv.trace_id == root and inv.ok for inv in downstream)
    names = {e.get("name") for e in entities(system, root)}
    sns_hop = any(e.get("namespace") == "aws" and str(e.get("name")).lower() == "sns" for e in entities(system, root))
    evidence = [f"trace {root}: " + ", ".join(f"{inv.function}({'ok' if inv.ok else inv.error_type})"
                                               for inv in ev.pipeline),
                f"entities in the trace: {sorted(n for n in names if n)[:12]}"]
    functions = {inv.function for inv in downstream}
    return Check("SC-001/SC-008 ingestion -> SNS -> analysis is one trace", ok and sns_hop and "analysis" in functions,
                 evidence + [f"SNS publish subsegment: {sns_hop}", f"delivered to: {sorted(functions)}"])


def sc001_api_one_trace(system: System, ev: Evidence) -> Check:
    dashboard = [inv for step, inv in system.invocations if inv.function == "dashboard"]
    good = []
    for inv in dashboard:
        ents = entities(system, inv.trace_id)
        if any(e.get("namespace") == "aws" and str(e.get("name")).lower() == "dynamodb" for e in ents):
            good.append(inv.trace_id)
    return Check("SC-001 API call -> dashboard -> DynamoDB is one trace", bool(good),
                 [f"{len(dashboard)} dashboard invocations; DynamoDB subsegments in traces {good[:3]}"])


def sc003_sc012_auto_instrumented_once(system: System) -> Check:
    """Every AWS call a buffered function made is one subsegment of its trace: present (SC-003), not doubled (SC-012)."""
    problems: list[str] = []
    seen: set[str] = set()
    by_trace: dict[str, list[Invocation]] = {}
    for step, inv in system.invocations:  # one trace may span several invocations (SNS carries it on)
        if not step.startswith(("fault", "failure", "fallback")):
            by_trace.setdefault(inv.trace_id, []).append(inv)
    for trace_id, invs in by_trace.items():
        calls = [c for inv in invs for c in _aws_calls(inv)]
        if not calls:
            continue
        seen.update(inv.function for inv in invs)
        aws = [e for e in entities(system, trace_id) if e.get("namespace") == "aws"]
        if len(aws) != len(calls):
            problems.append(f"trace {trace_id} ({', '.join(i.function for i in invs)}): {len(calls)} AWS calls, "
                            f"{len(aws)} aws subsegments")
    return Check("SC-003/SC-012 every AWS call is exactly one auto-instrumented subsegment", not problems and bool(seen),
                 problems or [f"functions checked: {sorted(seen)}"])


def sc011_sendgrid_subsegment(system: System) -> Check:
    found = [e for d in system.daemon.documents for e in flatten(d)
             if e.get("namespace") == "remote" and "sendgrid" in str(e.get("name", "")).lower()]
    with_status = [e for e in found if (e.get("http") or {}).get("response", {}).get("status")
                   and e.get("end_time") and e.get("start_time")]
    return Check("SC-011 SendGrid calls are explicit subsegments with status and duration", bool(with_status),
                 [f"{len(found)} SendGrid subsegments, {len(with_status)} with HTTP status and duration",
                  f"mails at the SendGrid fake: {len(system.sendgrid.sent)}"])


def sc004_sc019_silent_paths(system: System, ev: Evidence) -> Check:
    """Each path: an error-marked subsegment of its name, a SilentFailure datum with the alarm's exact dimensions."""
    cw = system.account.client("cloudwatch")
    emitted = {tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"]))
               for metric in cw.list_metrics(Namespace=m.SILENT_FAILURE_NAMESPACE,
                                             MetricName=m.SILENT_FAILURE_METRIC)["Metrics"]}
    evidence, ok = [], True
    for path, owner in FAILURE_PATH_OWNER.items():
        inv = ev.faults.get(path)
        if inv is None:
            ok = False
            evidence.append(f"{path}: not exercised")
            continue
        marked = [e for e in entities(system, inv.trace_id) if e.get("name") == path and (e.get("error") or e.get("fault"))]
        dims = tuple(sorted({m.FUNCTION_DIMENSION: system.functions[owner].name, m.FAILURE_PATH_DIMENSION: path}.items()))
        counted = dims in emitted
        flow_ok = (not inv.ok) if path in FAILS_THE_INVOCATION else inv.ok
        ok &= bool(marked) and counted and flow_ok
        flow = ("failed so SNS retries it whole" if path in FAILS_THE_INVOCATION and not inv.ok else
                "went on" if inv.ok else "FAILED: " + str(inv.error_message)[:80])
        evidence.append(f"{path}: subsegment {'marked' if marked else 'MISSING'}, metric {'emitted' if counted else 'MISSING'},"
                        f" flow {flow} (trace {inv.trace_id})")
    return Check("SC-004/SC-019 every silent path gives a marked subsegment and its metric", ok, evidence)


def sc025_documents_bounded(system: System) -> Check:
    too_big = [len(json.dumps(d)) for d in system.daemon.documents if len(json.dumps(d)) > MAX_DOCUMENT_BYTES]
    long_messages = []
    for d in system.daemon.documents:
        for e in flatten(d):
            for exc in ((e.get("cause") or {}).get("exceptions") or []) if isinstance(e.get("cause"), dict) else []:
                if len(str(exc.get("message", ""))) > MAX_ERROR_MESSAGE:
                    long_messages.append(e.get("name"))
    return Check("SC-025 every document is bounded", not too_big and not long_messages,
                 [f"{len(system.daemon.documents)} documents; over 64 KB: {len(too_big)}; "
                  f"error messages over {MAX_ERROR_MESSAGE}: {len(long_messages)}"])


def sc026_warm_invocations_own_trace(system: System) -> Check:
    by_fn: dict[str, list[Invocation]] = {}
    for _, inv in system.invocations:
        by_fn.setdefault(inv.function, []).append(inv)
    problems: list[str] = []
    warm = sum(max(0, len(invs) - 1) for invs in by_fn.values())
    for fn, invs in by_fn.items():  # a scheduled function's runs are new traces: none may repeat the previous one
        if fn in ("ingestion", "metrics", "canary"):
            repeated = [b.trace_id for a, b in zip(invs, invs[1:], strict=False) if a.trace_id == b.trace_id]
            problems += [f"{fn}: two invocations shared trace {t}" for t in repeated]
    stray = [d.get("trace_id") for d in system.daemon.documents
             if d.get("trace_id") not in {inv.trace_id for _, inv in system.invocations}]
    return Check("SC-026 warm invocations carry their own trace ids", not problems and not stray and warm > 0,
                 problems + [f"{warm} warm invocations; documents with a trace id no invocation had: {len(stray)}"])


# -- fits --------------------------------------------------------------------------------------------------------
def iam_fit_check(system: System, drop: Optional[tuple[str, str]] = None) -> Check:
    """Judge every recorded call against its function's declared role. ``drop=(function, action)`` removes the
    action from that function's role first (the run must then fail, naming the call, the resource and the role)."""
    secret_arns = {r.inputs["name"]: system.account.subs.apply(system.decl.value(r, "arn"))
                   for r in system.decl.of_type("aws:secretsmanager/secret:Secret")}
    secret_arns.update({v: v for v in secret_arns.values()})
    total, denials = 0, []
    for logical, fn in system.functions.items():
        role = system.roles[fn.role_urn]
        docs = [system.account.subs.apply(d) for d in role.inline_policies.values()]
        if drop and drop[0] == logical:
            docs = iam_fit.drop_action(docs, drop[1])
        calls = [c for _, inv in system.invocations if inv.function == logical for c in inv.calls]
        count, found = iam_fit.judge(logical, role.name, calls, docs, secret_arns)
        total += count
        denials += found
    unique = sorted({d.describe() for d in denials})
    return Check("IAM fit: every call was allowed by its role (action, resource, condition)", not denials,
                 unique[:20] or [f"{total} accesses judged against {len(system.functions)} roles"])


def environment_fit(system: System) -> Check:
    problems = []
    for logical, env in system.started_env.items():
        declared = set(system.functions[logical].environment)
        extra = set(env) - declared
        if extra:
            problems.append(f"{logical} started with undeclared {sorted(extra)}")
        missing = declared - set(env)
        if missing:
            problems.append(f"{logical} lacks declared {sorted(missing)}")
    return Check("environment fit: every function started with exactly its declared environment", not problems,
                 problems or [f"{len(system.started_env)} functions"])


def _aws_metric_table() -> set[tuple[str, str]]:
    rows = set()
    for line in AWS_METRICS_TABLE.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("AWS/") and cells[3].startswith("http"):
            rows.add((cells[0], cells[1]))
    return rows


def metric_fit(system: System) -> Check:
    """Custom-namespace alarms watch a (namespace, metric, dimension set) the run emitted (or a declared metric
    filter produces); AWS-namespace alarms watch a metric AWS documents (docs/aws-metrics.md, with sources)."""
    cw = system.account.client("cloudwatch")
    emitted = set()
    for page in cw.get_paginator("list_metrics").paginate():
        for metric in page["Metrics"]:
            emitted.add((metric["Namespace"], metric["MetricName"],
                         tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))))
    filters = {(f.inputs["metricTransformation"]["namespace"], f.inputs["metricTransformation"]["name"])
               for f in system.decl.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")}
    documented = _aws_metric_table()
    problems, checked = [], 0
    for alarm in system.decl.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        i = system.account.subs.apply(dict(alarm.inputs))
        watched = [(i["namespace"], i["metricName"], i.get("dimensions") or {})] if i.get("metricName") else [
            (q["metric"]["namespace"], q["metric"]["metricName"], q["metric"].get("dimensions") or {})
            for q in i.get("metricQueries") or [] if q.get("metric")]
        for ns, name, dims in watched:
            checked += 1
            if ns.startswith("AWS/"):
                if (ns, name) not in documented:
                    problems.append(f"{i['name']}: {ns} {name} is not in the documented AWS metrics table")
            elif (ns, name) in filters:
                continue
            elif (ns, name, tuple(sorted(dims.items()))) not in emitted:
                problems.append(f"{i['name']}: {ns} {name} {dims} was never emitted")
    return Check("metric fit: every alarm watches a metric that exists", not problems,
                 problems[:20] or [f"{checked} alarm metrics checked"])


def log_filter_fit(system: System, ev: Evidence) -> Check:
    """The fallback lines the handler wrote, put into the declared log group, are what the declared filter counts."""
    inv = ev.fallback
    if inv is None:
        return Check("log-filter fit: the fallback line matches the metric filter", False, ["not exercised"])
    lines = [line for line in inv.logs if line.get(m.METRIC_FALLBACK_FIELD) is True]
    fn = system.functions[inv.function]
    filters = [f for f in system.decl.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
               if f.inputs["logGroupName"] == f"/aws/lambda/{fn.name}"]
    if not lines or not filters:
        return Check("log-filter fit: the fallback line matches the metric filter", False,
                     [f"fallback lines: {len(lines)}, filters on /aws/lambda/{fn.name}: {len(filters)}"])
    logs = system.account.client("logs")
    group, stream = filters[0].inputs["logGroupName"], "e2e-fallback"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    import time as _time
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": int(_time.time() * 1000), "message": json.dumps(line)} for line in lines])
    matched = logs.filter_log_events(logGroupName=group, filterPattern=filters[0].inputs["pattern"])["events"]
    return Check("log-filter fit: the fallback line matches the metric filter", len(matched) == len(lines),
                 [f"{len(lines)} fallback lines from {inv.function}; the declared pattern "
                  f"{filters[0].inputs['pattern']!r} matches {len(matched)}"])


def collector_log_fit(system: System) -> Check:
    """Issue 9 (lost SSE spans go unnoticed): the collector's export-failure lines, put into the streaming
    function's declared log group, are exactly what its declared filter counts, and an alarm watches that count."""
    name = "collector-log fit: the collector's export failures are counted and alarmed"
    problems: list[str] = []
    fn = system.functions["sse-streaming"]
    group = f"/aws/lambda/{fn.name}"
    filters = [f for f in system.decl.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
               if f.inputs["logGroupName"] == group
               and f.inputs["metricTransformation"]["name"] == m.COLLECTOR_EXPORT_FAILURES]
    if len(filters) != 1:
        return Check(name, False, [f"{len(filters)} filters on {group} count {m.COLLECTOR_EXPORT_FAILURES}"])
    declared = filters[0].inputs
    logs = system.account.client("logs")
    stream = "e2e-collector"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    import time as _time
    now = int(_time.time() * 1000)
    lines = [*collector_log.EXPORT_FAILURES, *collector_log.HEALTHY]
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)])
    matched = {e["message"] for e in logs.filter_log_events(logGroupName=group, logStreamNames=[stream],
                                                            filterPattern=declared["pattern"])["events"]}
    missed = [line[:80] for line in collector_log.EXPORT_FAILURES if line not in matched]
    counted = [line[:80] for line in collector_log.HEALTHY if line in matched]
    problems += [f"not counted: {line}" for line in missed] + [f"counted though healthy: {line}" for line in counted]
    ns = declared["metricTransformation"]["namespace"]
    alarms = [a.inputs for a in system.decl.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if a.inputs.get("namespace") == ns and a.inputs.get("metricName") == m.COLLECTOR_EXPORT_FAILURES]
    if not alarms or not all(a.get("alarmActions") for a in alarms):
        problems.append(f"no alarm with actions watches {ns} {m.COLLECTOR_EXPORT_FAILURES}")
    return Check(name, not problems, problems or [
        f"{group}: pattern {declared['pattern']!r} counts {len(collector_log.EXPORT_FAILURES)} of "
        f"{len(collector_log.EXPORT_FAILURES)} failure lines and 0 of {len(collector_log.HEALTHY)} healthy ones "
        f"into {ns} {m.COLLECTOR_EXPORT_FAILURES}; alarm {alarms[0].get('name')}"])


def cors_fit(ev: Evidence) -> Check:
    problems, seen = [], 0
    for r in list(ev.api) + list(ev.streams):
        if r.origin is None or r.label.startswith("configuration (no token)"):
            continue
        seen += 1
        acao = {k.lower(): v for k, v in r.headers.items()}.get("access-control-allow-origin")
        if r.origin == FOREIGN_ORIGIN and acao not in (None, ""):
            problems.append(f"{r.label}: a foreign origin got Access-Control-Allow-Origin {acao!r}")
        if r.origin not in (FOREIGN_ORIGIN, acao):
            problems.append(f"{r.label} ({r.status}): origin {r.origin} got Access-Control-Allow-Origin {acao!r}")
    return Check("CORS fit: allowed origins are answered, foreign ones are not", not problems and seen > 0,
                 problems or [f"{seen} browser-shaped responses"])


def public_access_fit(system: System) -> Check:
    problems = []
    for url in system.decl.function_urls():
        if url.inputs.get("authorizationType") != "NONE":
            continue
        logical = next(k for k, f in system.functions.items() if f.name == url.inputs["functionName"])
        grants = [p for p in system.decl.permissions_of(system.functions[logical]) if p.get("principal") == "*"]
        has_url = any(p.get("action") == "lambda:InvokeFunctionUrl" and p.get("functionUrlAuthType") == "NONE" for p in grants)
        has_invoke = any(p.get("action") == "lambda:InvokeFunction" and p.get("invokedViaFunctionUrl") for p in grants)
        if not (has_url and has_invoke):
            problems.append(f"{url.inputs['functionName']}: InvokeFunctionUrl {has_url}, InvokeFunction via URL {has_invoke}")
    return Check("public access fit: a NONE-auth Function URL grants both public permissions", not problems,
                 problems or ["every NONE-auth URL has both permissions"])


def trust_fit(system: System) -> Check:
    problems = []
    for role in system.roles.values():
        statements = role.assume_role_policy.get("Statement", [])
        if not any((s.get("Principal") or {}).get("Service") == "lambda.amazonaws.com" and s.get("Effect") == "Allow"
                   for s in statements):
            problems.append(f"{role.name} cannot be assumed by the Lambda service")
    return Check("trust fit: every function role can be assumed by Lambda", not problems,
                 problems or [f"{len(system.roles)} roles"])


def functions_ran(system: System) -> Check:
    failed = [f"{step}: {inv.function} {inv.error_type}: {str(inv.error_message)[:160]}"
              for step, inv in system.invocations if not inv.ok and not step.startswith(("fault", "failure"))]
    return Check("every function ran from its own archive, environment and role", not failed,
                 failed[:20] or [f"{len(system.invocations)} invocations of {len(system.processes)} functions"])


def sc010_sc023_sc024_streaming_spans(system: System, ev: Evidence) -> Check:
    """The stream's spans share the invocation's trace id, hang off the invocation's segment or each other (no
    orphans), and were at the collector when the stream ended (flushed before the last byte)."""
    live = next((s for s in ev.streams if s.label.startswith("stream (live")), None)
    if live is None:
        return Check("SC-010/SC-023/SC-024 streaming spans join the invocation's trace", False, ["no stream ran"])
    root = live.trace.split(";")[0].removeprefix("Root=")
    parent = dict(p.split("=", 1) for p in live.trace.split(";") if "=" in p).get("Parent")
    spans = system.receiver.for_trace(root)
    ids = {s.span_id for s in spans}
    orphans = [s.name for s in spans if s.parent_span_id not in ids and s.parent_span_id != parent]
    sentiments = [e for e in live.events if e.get("event") == "sentiment"]
    carried = [json.loads(e.get("data") or "{}").get("trace_id") for e in live.events if e.get("data")]
    ok = live.status == 200 and bool(spans) and not orphans and bool(sentiments) and all(t == root for t in carried if t)
    return Check("SC-010/SC-023/SC-024 streaming spans join the invocation's trace", ok,
                 [f"trace {root}: {len(spans)} spans ({sorted({s.name for s in spans})[:8]}), orphans {orphans}",
                  f"{len(live.events)} events, {len(sentiments)} sentiment events; "
                  f"trace ids in data: {sorted(set(map(str, carried)))}"])


def streaming_slots(ev: Evidence) -> Check:
    """A disconnect frees its slot (live and dead collector); past the cap the next client is refused with 503."""
    evidence, ok = [], True
    for s in ev.streams:
        if s.release_seconds is None and s.label != "stream (foreign origin)":
            ok = False
        if s.label != "stream (foreign origin)":
            evidence.append(f"{s.label}: status {s.status}, open connections back to 0 after {s.release_seconds} s")
    ok &= ev.pool_refusal == 503
    evidence.append(f"past the connection cap: {ev.pool_refusal}")
    return Check("streaming slots: freed on disconnect, refused past the cap", ok, evidence)
