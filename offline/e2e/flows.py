"""The flows the end-to-end run drives, each as a user or AWS would start it, recording what happened."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Optional

from contract import env as E
from contract.data import FAILURE_PATH_OWNER, ITEMS_BY_STATUS
from offline.e2e.runtime import Invocation
from offline.e2e.system import System, flatten, published, scheduled_event, sns_event

TICKER = "TSLA"
#: Consecutive failing runs tried until a circuit opens (the breaker's threshold is below this).
BREAKER_RUNS = 6
#: The one silent path whose invocation fails on purpose after counting (SNS retries the whole analysis).
FAILS_THE_INVOCATION = {"fanout_partial_write"}

FOREIGN_ORIGIN = "https://attacker.example.net"


@dataclass
class HttpResult:
    label: str
    url: str
    status: int
    headers: dict[str, str]
    body: str
    origin: Optional[str] = None


@dataclass
class Evidence:
    pipeline: list[Invocation] = field(default_factory=list)          # ingestion, then what SNS delivered
    ticks: list[Invocation] = field(default_factory=list)             # metrics, canary runs
    api: list[HttpResult] = field(default_factory=list)
    faults: dict[str, Invocation] = field(default_factory=dict)       # failure path -> the invocation that hit it
    failures: list[Invocation] = field(default_factory=list)          # a function's own work failing
    streams: list[StreamResult] = field(default_factory=list)
    pool_refusal: Optional[int] = None                                 # status past the connection cap
    fallback: Optional[Invocation] = None                              # PutMetricData refused: the log line
    notes: list[str] = field(default_factory=list)


def http(label: str, url: str, headers: Optional[dict] = None, method: str = "GET",
         origin: Optional[str] = None) -> HttpResult:
    req = urllib.request.Request(url, method=method, headers={**(headers or {}), **({"Origin": origin} if origin else {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return HttpResult(label, url, resp.status, dict(resp.headers), resp.read().decode(), origin)
    except urllib.error.HTTPError as exc:
        return HttpResult(label, url, exc.code, dict(exc.headers), exc.read().decode(), origin)


def seed(system: System, user_id: str) -> None:
    """A user's configuration and alert subscription, and news for the fakes to serve."""
    system.put_item(E.USERS_TABLE, {"PK": f"USER#{user_id}", "SK": "CONFIG#c1", "entity_type": "CONFIGURATION",
                                    "status": "active", "tickers": [TICKER]})
    system.put_item(E.USERS_TABLE, {"PK": f"USER#{user_id}", "SK": "ALERT#a1", "entity_type": "ALERT",
                                    "status": "active", "email": "user@example.com", "tickers": [TICKER]})
    system.tiingo.add(TICKER, "Tesla deliveries beat estimates by a wide margin", "Strong demand everywhere")
    system.finnhub.add(TICKER, "Tesla recalls vehicles over a safety defect", "Regulators are concerned")


def pipeline(system: System, ev: Evidence) -> None:
    """Scheduled ingestion -> SNS -> analysis (time series) and -> notification (SendGrid)."""
    ingestion = system.invoke("pipeline", "ingestion", scheduled_event(system.rule_arn_of("ingestion")))
    ev.pipeline.append(ingestion)
    ev.pipeline += system.deliver("pipeline", ingestion)


def ticks(system: System, ev: Evidence) -> None:
    ev.ticks.append(system.invoke("ticks", "metrics", scheduled_event(system.rule_arn_of("metrics"))))
    for _ in range(2):  # the canary verifies the previous run's traces and probe: two runs
        ev.ticks.append(system.invoke("ticks", "canary", scheduled_event(system.rule_arn_of("canary"))))


def api_calls(system: System, ev: Evidence, id_token: Optional[str]) -> None:
    """Browser-shaped calls (an Origin header, a bearer token on the user route) through API Gateway."""
    allowed = system.functions["dashboard"].environment.get(E.CORS_ALLOW_ORIGINS, "").split(",")[0] or None
    base = system.api_url
    ev.api.append(http("health", f"{base}/health", origin=allowed))
    ev.api.append(http("items", f"{base}/api/v2/items?ticker={TICKER}", origin=allowed))
    ev.api.append(http("timeseries", f"{base}/api/v2/timeseries/{TICKER}", origin=allowed))
    ev.api.append(http("items (foreign origin)", f"{base}/api/v2/items", origin=FOREIGN_ORIGIN))
    ev.api.append(http("preflight", f"{base}/api/v2/items", method="OPTIONS",
                       headers={"Access-Control-Request-Method": "GET",
                                "Access-Control-Request-Headers": "authorization,x-amzn-trace-id"}, origin=allowed))
    ev.api.append(http("configuration (no token)", f"{base}/api/v2/configurations/c1", origin=allowed))
    if id_token:
        ev.api.append(http("configuration", f"{base}/api/v2/configurations/c1",
                           headers={"Authorization": f"Bearer {id_token}"}, origin=allowed))


#: How each silent-failure path is made to fail for real, as its dependency would fail in AWS.
def _fault_plan(system: System, path: str) -> tuple[str, Any, list[dict]]:
    schedule = scheduled_event(system.rule_arn_of("ingestion"))
    ddb = lambda op, contains: {"service": "dynamodb", "operation": op, "contains": contains,  # noqa: E731
                                "code": "AccessDeniedException"}
    if path == "circuit_breaker_load":
        return "ingestion", schedule, [ddb("GetItem", "CIRCUIT#")]
    if path == "circuit_breaker_save":  # a source failing until its circuit opens: that transition must be saved
        system.finnhub.fail(503)
        return "ingestion", schedule, [ddb("PutItem", "CIRCUIT#")]
    if path == "audit_trail":
        system.tiingo.add(TICKER, "Tesla opens a new factory", "Growth")
        return "ingestion", schedule, [ddb("PutItem", "AUDIT#")]
    if path == "notification_delivery":
        system.tiingo.add(TICKER, "Tesla wins a large fleet order", "Sales")
        topic = system.account.subs.apply(system.functions["ingestion"].environment[E.NOTIFICATION_TOPIC_ARN])
        return "ingestion", schedule, [{"service": "sns", "operation": "Publish", "contains": topic,
                                        "code": "InternalErrorException"}]
    if path == "self_healing_fetch":
        return "ingestion", schedule, [ddb("Query", ITEMS_BY_STATUS)]
    if path == "parallel_fetcher_aggregate":
        system.tiingo.fail(500, times=1)
        return "ingestion", schedule, []
    if path == "fanout_partial_write":  # the event is the analysis message ingestion published (see faults)
        return "analysis", None, [ddb("TransactWriteItems", f'"{TICKER}#5m"')]
    raise KeyError(path)


def faults(system: System, ev: Evidence) -> None:
    """Each of the silent-failure paths, failed once, in its owner function."""
    analysis_messages = [(topic, message) for inv in ev.pipeline if inv.function == "ingestion"
                         for topic, message in published(inv) if '"source_id"' in message]
    for path in FAILURE_PATH_OWNER:
        owner, event, plan = _fault_plan(system, path)
        if owner == "analysis":
            if not analysis_messages:
                ev.notes.append(f"{path}: no analysis message was published, so nothing to fail")
                continue
            topic, text = analysis_messages[0]
            ((logical, subscription),) = system.lambda_subscribers(topic)
            # a fresh item, so the fan-out really writes again
            message = json.loads(text)
            system.put_item(E.ITEMS_TABLE, {"source_id": message["source_id"] + "-fault",
                                            "timestamp": message["timestamp"], "status": "pending"})
            message["source_id"] += "-fault"
            event = sns_event(topic, subscription, json.dumps(message))
        for _ in range(BREAKER_RUNS if path == "circuit_breaker_save" else 1):
            ev.faults[path] = system.invoke(f"fault {path}", owner, event, faults=plan)
            if any(e.get("name") == path for d in system.daemon.documents for e in flatten(d)
                   if e.get("trace_id") == ev.faults[path].trace_id):
                break
        system.tiingo.heal()
        system.finnhub.heal()


def failures(system: System, ev: Evidence) -> None:
    """Functions whose own work fails count it (the alarms on those counts must watch what is emitted)."""
    ddb_down = {"service": "dynamodb", "operation": "Query", "contains": "", "code": "ProvisionedThroughputExceededException"}
    ev.failures.append(system.invoke("failure metrics", "metrics", scheduled_event(system.rule_arn_of("metrics")),
                                     faults=[ddb_down]))
    messages = [(t, m) for inv in ev.pipeline if inv.function == "ingestion" for t, m in published(inv)
                if '"source_id"' in m]
    if messages:
        topic, message = messages[0]
        ((logical, subscription),) = system.lambda_subscribers(topic)
        ev.failures.append(system.invoke("failure analysis", logical, sns_event(topic, subscription, message),
                                         faults=[{**ddb_down, "operation": "UpdateItem"},
                                                 {**ddb_down, "operation": "GetItem"}]))


def fallback(system: System, ev: Evidence) -> None:
    """CloudWatch refuses PutMetricData: the handler's fallback log line is what the metric filter counts."""
    ev.fallback = system.invoke("fallback", "ingestion", scheduled_event(system.rule_arn_of("ingestion")),
                                faults=[{"service": "cloudwatch", "operation": "PutMetricData", "contains": "",
                                         "code": "InternalServiceError"}])


@dataclass
class StreamResult:
    label: str
    status: int
    headers: dict[str, str]
    events: list[dict]
    trace: str
    origin: Optional[str]
    release_seconds: Optional[float] = None     # client gone -> open connections back to 0


def _open_connections(app_port: int) -> int:
    status = http("status", f"http://127.0.0.1:{app_port}/api/v2/stream/status")
    return int(json.loads(status.body)["connections"])


def _released_within(app_port: int, limit: float) -> Optional[float]:
    import time
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            if _open_connections(app_port) == 0:
                return round(time.monotonic() - started, 3)
        except (ValueError, OSError):
            pass
        time.sleep(0.05)
    return None


def streaming(system: System, ev: Evidence) -> None:
    """Browser-shaped SSE streams through the Function URL, the analysed items streaming; then a pool filled to its
    cap (the next client is refused with 503), and the same app with a dead collector (the slot still frees)."""
    from offline.e2e.streaming import FunctionUrl, StreamingApp, read_stream
    from standins.otlp_receiver import Blackhole
    fn = system.functions["sse-streaming"]
    (url_record,) = system.decl.function_urls()
    creds = system.account.assume(system.account.subs.apply(system.roles[fn.role_urn].arn), "e2e-sse")
    env = system.environment(fn)
    system.started_env["sse-streaming"] = env
    allowed = (url_record.inputs.get("cors") or {}).get("allowOrigins", [None])[0]
    for label in ("live", "dead"):
        blackhole = Blackhole() if label == "dead" else None
        endpoint = system.receiver.address if blackhole is None else blackhole.endpoint
        app = StreamingApp(system.workdir / f"sse-{label}", {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
                           creds, system.account.endpoint).start()
        furl = FunctionUrl(app.port, url_record.inputs.get("cors") or {}, fn.timeout_seconds).start()
        try:
            path = f"{furl.url}/api/v2/stream?tickers={TICKER}"
            until = "sentiment" if label == "live" else "connected"
            status, headers, events, trace = read_stream(path, allowed, until, timeout=30)
            result = StreamResult(f"stream ({label} collector)", status, headers, events, trace, allowed,
                                  _released_within(app.port, 10.0))
            ev.streams.append(result)
            if label == "live":
                f_status, f_headers, _, f_trace = read_stream(path, FOREIGN_ORIGIN, "connected", timeout=10)
                ev.streams.append(StreamResult("stream (foreign origin)", f_status, f_headers, [], f_trace, FOREIGN_ORIGIN))
                ev.pool_refusal = _fill_pool(app.port, int(env.get("SSE_MAX_CONNECTIONS", "100")))
        finally:
            furl.stop()
            app.stop()
            if blackhole:
                blackhole.close()


def _fill_pool(port: int, cap: int) -> Optional[int]:
    """Open ``cap`` streams straight to the app, then one more: its status (503 when the cap holds)."""
    import http.client
    held = []
    try:
        for _ in range(cap):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", f"/api/v2/stream?tickers={TICKER}", headers={"Accept": "text/event-stream"})
            conn.getresponse()
            held.append(conn)
        extra = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        extra.request("GET", f"/api/v2/stream?tickers={TICKER}", headers={"Accept": "text/event-stream"})
        status = extra.getresponse().status
        extra.close()
        return status
    except OSError:
        return None
    finally:
        for conn in held:
            conn.close()
