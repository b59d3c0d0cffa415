"""``python -m standins otlp-receiver`` as a user runs it (issue 11: it crashed, ``main()`` took no arguments).

It must print its address, then one line per span a real OTLP/HTTP exporter sends it, and stop cleanly on
Ctrl-C; ``--help`` and ``--version`` answer without starting anything.
"""
from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from contract.distribution import NAME, VERSION

REPO = Path(__file__).resolve().parents[2]
LINE_TIMEOUT_S = 30  # a cold interpreter importing uvicorn and protobuf on a loaded 2-core machine takes a few


def _standins(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "standins", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_issue11_standins_version_prints_the_distribution_version() -> None:
    done = _standins("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"{NAME} {VERSION}"), done.stderr


def test_issue11_otlp_receiver_help_names_its_port_option() -> None:
    done = _standins("otlp-receiver", "--help")
    assert done.returncode == 0, done.stderr
    assert "--port" in done.stdout and "4318" in done.stdout


@pytest.fixture
def receiver() -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    proc = subprocess.Popen([sys.executable, "-u", "-m", "standins", "otlp-receiver", "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None  # stdout=PIPE
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_issue11_otlp_receiver_prints_each_span_a_real_exporter_sends(receiver) -> None:
    proc, lines = receiver
    first = lines.get(timeout=LINE_TIMEOUT_S)
    found = re.match(r"otlp-receiver on (http://127\.0\.0\.1:\d+); point clients at it with "
                     r"OTEL_EXPORTER_OTLP_ENDPOINT=\1$", first.strip())
    assert found, f"unexpected first line {first!r}"

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{found.group(1)}/v1/traces",
                                                                     timeout=10)))
    with provider.get_tracer("issue-11").start_as_current_span("cli-check") as span:
        span.set_attribute("ticker", "AAPL")
        span.set_attribute("aws.xray.annotations", ["ticker"])
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()

    line = lines.get(timeout=LINE_TIMEOUT_S)
    assert line.split()[:2] == [f"1-{trace_id[:8]}-{trace_id[8:]}", "cli-check"], line
    assert "{'ticker': 'AAPL'}" in line

    proc.send_signal(signal.SIGINT)  # Ctrl-C: the receiver stops and the command exits 0
    assert proc.wait(timeout=LINE_TIMEOUT_S) == 0
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_issue11_ctrl_c_stops_a_receiver_started_with_sigint_ignored() -> None:
    """A shell script's ``cmd &`` starts ``cmd`` with SIGINT ignored, and Python then has no KeyboardInterrupt
    handler: the stand-in installs its own, so SIGINT stops it (exit 0) however it was started."""
    ignoring = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "  # kept across exec
                "os.execv(sys.executable, [sys.executable, '-u', '-m', 'standins', 'otlp-receiver', '--port', '0'])")
    proc = subprocess.Popen([sys.executable, "-c", ignoring], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and "otlp-receiver on http://127.0.0.1:" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=LINE_TIMEOUT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
