"""Buffered-handler figures: tracing cost per subsegment and cold import time per handler.

Each measurement runs in a fresh interpreter with the Lambda environment set before import (Lambda mode is
decided at import), emitting to a UDP sink on 127.0.0.1 that reads and discards the datagrams, so the cost
includes serialisation and the send, as in Lambda.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANDLERS = ("ingestion", "analysis", "dashboard", "metrics", "notification")
SUBSEGMENTS = 5

_ENV = {"LAMBDA_TASK_ROOT": str(REPO / "handlers"), "AWS_LAMBDA_FUNCTION_NAME": "bench-sentiment-handler",
        "POWERTOOLS_SERVICE_NAME": "sentiment-bench", "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "POWERTOOLS_LOG_LEVEL": "WARNING", "ENVIRONMENT": "bench", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1"}

_COST_CHILD = r'''
import json, os, socket, sys, threading, time, uuid
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sink.bind(("127.0.0.1", 0))
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:%d" % sink.getsockname()[1]
received = [0]
def drain():
    while True:
        sink.recv(65535); received[0] += 1
threading.Thread(target=drain, daemon=True).start()
sys.path.append(os.path.join(os.getcwd(), "handlers"))
import common
N, K = int(sys.argv[1]), int(sys.argv[2])

def work(i):
    return sum(range(50)) + i

def untraced(event, context):
    return [work(i) for i in range(K)]

@common.tracer.capture_lambda_handler
def traced(event, context):
    out = []
    for i in range(K):
        with common.tracer.provider.in_subsegment("step_%d" % i):
            common.annotate(step=i)
            out.append(work(i))
    return out

def run(fn):
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(N):
            os.environ["_X_AMZN_TRACE_ID"] = "Root=1-%s-%s;Parent=%s;Sampled=1" % (
                uuid.uuid4().hex[:8], uuid.uuid4().hex[:24], uuid.uuid4().hex[:16])
            fn({}, None)
        best = min(best, (time.perf_counter() - t0) / N)
    return best

run(traced)  # warm-up (cold start, first emitter use)
t_traced, t_untraced = run(traced), run(untraced)
deadline = time.time() + 5
while received[0] < N and time.time() < deadline:
    time.sleep(0.01)
assert received[0] >= N, "the traced handler emitted nothing: the figure would be meaningless"
print(json.dumps({"traced_ms": t_traced * 1e3, "untraced_ms": t_untraced * 1e3}))
'''

_IMPORT_CHILD = r'''
import json, os, sys, time
sys.path.append(os.path.join(os.getcwd(), "handlers"))
t0 = time.perf_counter()
__import__("handlers.%s.app" % sys.argv[1])
print(json.dumps({"ms": (time.perf_counter() - t0) * 1e3}))
'''


def _child(code: str, *args: str, extra_env: dict | None = None) -> dict:
    env = {**os.environ, **_ENV, **(extra_env or {})}
    env.pop("_X_AMZN_TRACE_ID", None)
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, check=True, capture_output=True,
                         text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure() -> list[tuple[str, object, str]]:
    cost = _child(_COST_CHILD, "300", str(SUBSEGMENTS))
    per_sub = (cost["traced_ms"] - cost["untraced_ms"]) / (SUBSEGMENTS + 1)  # + the ## handler subsegment
    figures: list[tuple[str, object, str]] = [
        (f"handler with {SUBSEGMENTS} subsegments: traced, per invocation", cost["traced_ms"], "ms"),
        (f"handler with {SUBSEGMENTS} subsegments: untraced, per invocation", cost["untraced_ms"], "ms"),
        ("tracing cost per subsegment (incl. ## handler)", per_sub, "ms (target <= 0.3)"),
        ("traced / untraced", cost["traced_ms"] / max(cost["untraced_ms"], 1e-9), "ratio"),
    ]
    for name in HANDLERS:
        traced = min(_child(_IMPORT_CHILD, name)["ms"] for _ in range(2))
        plain = min(_child(_IMPORT_CHILD, name, extra_env={"POWERTOOLS_TRACE_DISABLED": "true"})["ms"] for _ in range(2))
        figures.append((f"cold import handlers/{name}/app.py: traced / tracing disabled", f"{traced:.0f} / {plain:.0f}", "ms"))
    return figures
