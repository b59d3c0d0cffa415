"""SSE figures: span throughput through the bootstrap to an OTLP receiver, end-of-stream
flush time with a live, a refused and a black-holed collector, the cold import of the app with and
without its OTel share, what verifying a configuration stream's bearer JWT costs once its keys are cached, and
churn (issue 10): how soon a disconnected client's slot is free, 503s in 1,000 connect/close cycles, and the
app's threads while 20 clients churn against a black-holed collector.

Everything runs in subprocesses with the function's environment, so the OTel state of this process (and
of the other bench modules) is never touched: ``python -m bench.sse worker <what>`` prints one JSON object;
the churn figures drive the app under uvicorn (``tests.sse.harness.AppProcess``) against a moto server.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _env(otlp: str, **extra: str) -> dict:
    from tests.sse.harness import function_environment

    env = function_environment("http://127.0.0.1:9", {"ITEMS_TABLE": "bench-items", "USERS_TABLE": "bench-users"},
                               otlp, **extra)
    return {**env, "PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")}


def _run_worker(what: str, otlp: str = "", **extra: str) -> dict:
    env = _env(otlp or "http://127.0.0.1:9", **extra)
    done = subprocess.run([sys.executable, "-m", "bench.sse", "worker", what], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the worker side (runs in the subprocess) ----------------------------------------------------------
def _stream_tracer(tel):
    from handlers.sse.telemetry import StreamTracer
    from tests.sse.harness import new_parent, new_root, trace_header

    return StreamTracer(tel, tel.extract({"x-amzn-trace-id": trace_header(new_root(), new_parent())}))


def _make_spans(st, n: int) -> None:
    for i in range(n):
        with st.span("sse_event_dispatch") as span:
            span.annotate(event_type="sentiment", latency_ms=12.5, is_cold_start=False, is_clock_skew=False,
                          connection_count=i)


def _worker_throughput() -> dict:
    """Spans created, batched and exported until the receiver acknowledged them (flush returns after the
    last export's 200). The receiver runs in the parent process, as the collector is its own process."""
    from handlers.sse.telemetry import Telemetry

    tel = Telemetry()
    _make_spans(_stream_tracer(tel), 200)  # warm-up: connection, imports
    tel.flush(10)
    rounds, per_round = 20, 1000  # a poll cycle's worth of spans, then a flush (queue max 1500)
    acknowledged = True
    started = time.perf_counter()
    for _ in range(rounds):
        _make_spans(_stream_tracer(tel), per_round)
        acknowledged &= tel.flush(10)
    elapsed = time.perf_counter() - started
    return {"spans_per_s": rounds * per_round / elapsed, "created": rounds * per_round + 200,
            "acknowledged": acknowledged}


def _worker_flush(mode: str) -> dict:
    from handlers.sse.telemetry import Telemetry
    from standins.otlp_receiver import Blackhole, OtlpReceiver, dead_endpoint

    rx = OtlpReceiver().start() if mode == "live" else None
    hole = Blackhole() if mode == "blackhole" else None
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = rx.endpoint if rx else hole.endpoint if hole else dead_endpoint()
    tel = Telemetry()
    samples = []
    for _ in range(10 if mode == "live" else 3):
        st = _stream_tracer(tel)
        _make_spans(st, 30)  # the tail of a stream: dispatches, release, metrics
        started = time.perf_counter()
        st.final_flush()
        samples.append((time.perf_counter() - started) * 1000)
        if mode != "live":
            time.sleep(tel.exporter_timeout_s + 0.2)  # let the abandoned export give up before the next sample
    if rx:
        rx.stop()
    return {"median_ms": statistics.median(samples), "max_ms": max(samples),
            "timeout_ms": tel.exporter_timeout_s * 1000}


def _worker_import() -> dict:
    started = time.perf_counter()
    from handlers.sse import app  # noqa: F401

    imported = time.perf_counter()
    app.service()
    ready = time.perf_counter()
    otel = sum(1 for m in sys.modules if m.startswith("opentelemetry"))
    return {"import_ms": (imported - started) * 1000, "init_ms": (ready - imported) * 1000, "otel_modules": otel}


def _otel_import_share_ms() -> float:
    """Self time of every ``opentelemetry*`` module in ``-X importtime`` of import + init (microseconds)."""
    code = "import handlers.sse.app as a; a.service()"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO,
                          env=_env("http://127.0.0.1:9"), capture_output=True, text=True, timeout=120)
    total_us = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line.split(":", 1)[1].split("|")]
        if len(parts) == 3 and parts[0].isdigit() and parts[2].lstrip().startswith("opentelemetry"):
            total_us += int(parts[0])
    return total_us / 1000


def _jwt_verification_us(n: int = 2000) -> tuple[float, float]:
    """Median and p95 (µs) of ``TokenVerifier.verify`` on a moto-issued ID token, keys fetched once before.
    No OTel is involved, so it runs in this process."""
    from handlers.sse.auth import JWKS_PATH, TokenVerifier
    from standins.moto_server import MotoServer
    from standins.user_pool import UserPool

    with MotoServer() as moto:
        pool = UserPool.create(moto)
        header = f"Bearer {pool.sign_in().id_token}"
        verifier = TokenVerifier(pool.issuer, pool.client_id, f"{moto.endpoint}/{pool.pool_id}{JWKS_PATH}")
        verifier.verify(header)  # the one fetch of the keys
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            verifier.verify(header)
            samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples), statistics.quantiles(samples, n=20)[-1]


# -- churn (issue 10): the app under uvicorn, its clients in processes of their own -----------------------
RELEASE_SAMPLES = 60
CHURN_CLIENTS = 20
CHURN_S = 10.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _release_ms(url: str) -> tuple[list[float], list[float]]:
    """Client closes a stream it holds -> ``/api/v2/stream/status`` first counts it gone (ms), per sample; and
    the probe's own round trip (ms), the resolution of that figure. The probe sends ``Sampled=0`` so it
    records, and waits for, no span of its own."""
    import httpx

    from tests.sse.harness import new_parent, new_root, trace_header

    samples, round_trips = [], []
    with httpx.Client(timeout=10) as probe:
        def open_now() -> int:
            headers = {"X-Amzn-Trace-Id": trace_header(new_root(), new_parent(), sampled=0)}
            return probe.get(f"{url}/api/v2/stream/status", headers=headers).json()["connections"]

        for _ in range(RELEASE_SAMPLES):
            asked = time.perf_counter()
            open_now()
            round_trips.append((time.perf_counter() - asked) * 1000)
        for _ in range(RELEASE_SAMPLES):
            with httpx.Client(timeout=10) as client, client.stream("GET", f"{url}/api/v2/stream") as response:
                for line in response.iter_lines():
                    if line == "event: connected":
                        break
            gone = time.perf_counter()  # the connection is closed when the block exits
            while open_now():
                pass
            samples.append((time.perf_counter() - gone) * 1000)
    return samples, round_trips


def _churn_figures() -> list[tuple[str, float | str, str]]:
    from standins.moto_server import MotoServer
    from standins.otlp_receiver import Blackhole, OtlpReceiver
    from tests.sse.churn_client import Churn, Usage
    from tests.sse.conftest import ensure_tables
    from tests.sse.harness import ENVIRONMENT, AppProcess, function_environment

    out: list[tuple[str, float | str, str]] = []
    with MotoServer() as moto, OtlpReceiver() as rx, Blackhole() as hole:
        tables = ensure_tables(moto, ENVIRONMENT)
        for mode, endpoint in (("live", rx.endpoint), ("black-holed", hole.endpoint)):
            app = AppProcess(function_environment(moto.endpoint, tables, endpoint, SSE_MAX_CONNECTIONS="42")).start()
            try:
                assert app.proc is not None
                release, probe = _release_ms(app.url)
                out.append((f"SSE slot free after client disconnect, {mode} collector (ms, p50)",
                            _percentile(release, 0.5), f"p99 {_percentile(release, 0.99):.1f}; target <= 50 live, "
                            f"<= exporter timeout dead; status probe round trip p50 "
                            f"{_percentile(probe, 0.5):.1f} (the resolution); {len(release)} samples"))
                usage = Usage(app.proc.pid)
                usage.sample()
                baseline = usage.samples[0][0]
                if mode == "live":
                    with Churn(app.url, 1, "--cycles", "1000") as churn:
                        got = churn.result(600)
                    refused = got["statuses"].get("503", 0)
                    out.append(("SSE 1,000 sequential connect/close cycles: 503s (cap 42)", float(refused),
                                f"target 0; {got['statuses']}, errors {got['errors']}, "
                                f"{1000 / got['seconds']:.0f} cycles/s"))
                    continue
                with Churn(app.url, CHURN_CLIENTS, "--seconds", str(CHURN_S)) as churn:
                    while churn.running():
                        usage.sample()
                        time.sleep(0.1)
                    got = churn.result()
                cycles = sum(got["statuses"].values())
                out.append((f"SSE threads, {CHURN_CLIENTS} clients churning {CHURN_S:.0f} s, black-holed collector",
                            float(usage.max_threads), f"peak; {baseline} before; {cycles:,} cycles, "
                            f"503s {got['statuses'].get('503', 0)}, errors {got['errors']} (issue 10 saw 293)"))
            finally:
                app.close()
    return out


# -- the figures ---------------------------------------------------------------------------------------
def measure() -> list[tuple[str, float | str, str]]:
    out: list[tuple[str, float | str, str]] = []
    from standins.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as rx:
        tp = _run_worker("throughput", rx.endpoint)
        received = len(rx.snapshot())
    out.append(("SSE spans/s through the bootstrap to the OTLP receiver", float(tp["spans_per_s"]),
                f"target >= 5,000; {received:,}/{tp['created']:,} received"))
    live = _run_worker("flush-live")
    out.append(("SSE end of stream -> flush complete, live receiver (ms, median)", float(live["median_ms"]),
                f"target <= 50; max {live['max_ms']:.1f}"))
    for mode in ("refused", "blackhole"):
        r = _run_worker(f"flush-{mode}")
        out.append((f"SSE end of stream -> flush returns, {mode} collector (ms, max)", float(r["max_ms"]),
                    f"target <= exporter timeout + 100 = {r['timeout_ms'] + 100:.0f}"))
    imports = [_run_worker("import") for _ in range(3)]
    total = statistics.median(i["import_ms"] + i["init_ms"] for i in imports)
    otel_share = statistics.median(_otel_import_share_ms() for _ in range(3))
    out.append(("SSE cold import + init of handlers.sse.app, with OTel (ms)", float(total), "median of 3 processes"))
    out.append(("SSE cold import + init without the OTel modules' share (ms)", float(total - otel_share),
                f"OTel self time {otel_share:.1f} ms (-X importtime)"))
    n = 2000
    median_us, p95_us = _jwt_verification_us(n)
    out.append(("JWT verification cost per request (cached keys) (µs, median)", float(median_us),
                f"over {n:,} verifications of a moto ID token; p95 {p95_us:.0f} µs"))
    out += _churn_figures()
    return out


def _worker(what: str) -> None:
    if what == "throughput":
        result = _worker_throughput()
    elif what.startswith("flush-"):
        result = _worker_flush(what.split("-", 1)[1])
    elif what == "import":
        result = _worker_import()
    else:
        raise SystemExit(f"unknown worker {what}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        _worker(sys.argv[2])
    else:
        for row in measure():
            print(row)
