"""Policy figures: ``python -m offline preview`` end to end (program under mocks + the pack over gRPC), and
how the stack policies grow with the stack.

The preview figures are the wall time of a fresh ``python -m offline preview`` process, as a user runs it
(the CLI's ``main`` in a child interpreter that also reports its own peak RSS and those of the pack process and
the feeder, read from ``/proc`` just before the runner stops them); the overhead ratio divides it by the same program in a
fresh process under the mocks alone (no pack, ``bench.infra``), measured in this run: ``PROD_REPEATS`` back-to-back
pairs, the median of their ratios (the best of each side is shown too), to damp noise from other work on the
machine and the drift of its speed; the 10,000-resource preview alternates with the SDK's floor (best of
``REPEATS`` each). The growth
figure times ``AnalyzeStack`` alone, in this process through the pack's own servicer, at 1x and 4x the
resources: the stack index is built once, so the time should grow 4x (nested scans would make it 16x). The SARIF
figure renders ``--format sarif`` for ``SARIF_RESULTS`` findings (a fifth of them suppressed, each with a source
position), in this process: what a large stack's CI step adds after the preview.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench._synthetic import REPO, write_program
from bench.infra import run_under_mocks

REPEATS = 2
#: The prod stack's preview and its mocks-only baseline take 1-3 s each: run as this many back-to-back pairs.
PROD_REPEATS = 10
#: AnalyzeStack timings take the best of this many runs, to damp noise from other work on the machine.
STACK_REPEATS = 5
#: Functions in the small and the large stack of the growth figure (each with its Errors alarm and its role).
STACK_SIZES = (150, 600)
#: Findings in the SARIF rendering figure.
SARIF_RESULTS = 5000
#: Resources of the largest end-to-end figure (issue 11: ≤ 30 s and ≤ 800 MB peak RSS per process).
LARGE = 10_000
_RSS_MARK = "bench-rss:"

#: ``python -m offline preview`` as the CLI runs it, plus one stderr line with both processes' peak RSS (MB).
_PREVIEW_CHILD = r'''
import json, resource, sys
from offline import __main__ as cli, policy_driver

pack_kb, feeder_kb = [], []
_stop = policy_driver.PolicyPackProcess.stop

def peak_kb(proc, into):
    try:  # VmHWM: a process's peak resident set, readable only while it runs
        with open(f"/proc/{proc.pid}/status") as status:
            into.extend(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, AttributeError):
        pass

def stop(self):
    peak_kb(getattr(self, "proc", None), pack_kb)
    if getattr(self, "feeder", None) is not None:
        peak_kb(self.feeder.proc, feeder_kb)
    _stop(self)

policy_driver.PolicyPackProcess.stop = stop
try:
    code = cli.main(sys.argv[1:])
finally:
    from offline import event_loops
    event_loops.close_all()
print("@MARK@", json.dumps({"runner": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "pack": max(pack_kb, default=0) / 1024, "feeder": max(feeder_kb, default=0) / 1024}),
      file=sys.stderr)
cli._exit_now(code)  # the CLI's own exit: no interpreter teardown (the baseline ends the same way)
'''.replace("@MARK@", _RSS_MARK)


#: The same program under Pulumi's own ``MockMonitor`` and a ``Mocks`` that echoes the inputs: the SDK alone, with
#: none of the runner (no records, no pack, no provider emulation), under the collector setting the runner uses
#: (``offline.heap``). What the 10,000-resource preview cannot go below in this process, whatever the runner does.
_SDK_FLOOR_CHILD = r'''
import json, os, resource, runpy, sys, time
t0 = time.perf_counter()
import pulumi
from pulumi.runtime import mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from offline import heap

class Echo(mocks.Mocks):
    def new_resource(self, args):
        return [args.name + "-id", args.inputs]

    def call(self, args):
        return {}

mocks.set_mocks(Echo(), project="synthetic", stack="bench", preview=True)
pulumi.runtime.set_all_config({"aws:region": "us-east-1"})
program = sys.argv[1]
os.chdir(program)
sys.path.insert(0, program)
with heap.long_lived():
    _sync_await(run_pulumi_func(lambda: runpy.run_path("__main__.py", run_name="__main__") and None))
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
os._exit(0)
'''


def sdk_floor(program: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _SDK_FLOOR_CHILD, str(program)], cwd=REPO, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@dataclass
class Preview:
    seconds: float            # best wall time of a fresh runner process
    doc: dict                 # its --json output
    runner_mb: float          # peak RSS of the runner process (the program, the mocks, the requests)
    pack_mb: float            # peak RSS of the pack process
    feeder_mb: float          # peak RSS of the process carrying the Analyze calls (offline/feeder.py)


def preview(program: Path, stack: str, repeats: int = REPEATS) -> Preview:
    best: Preview | None = None
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _PREVIEW_CHILD, "preview", "--program", str(program),
                               "--stack", stack, "--json"], cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"offline preview of {program} failed: {proc.stderr.strip().splitlines()[-1:]}")
        rss = json.loads(proc.stderr.rsplit(_RSS_MARK, 1)[1])
        run = Preview(seconds, json.loads(proc.stdout), rss["runner"], rss["pack"], rss["feeder"])
        best = run if best is None or run.seconds < best.seconds else best
    assert best is not None  # repeats >= 1
    return best


def mocks_only(program: Path, stack: str, repeats: int = REPEATS) -> float:
    """Best wall time of a fresh process running the program under the mocks alone, timed from outside as
    ``preview`` is (interpreter start included)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        run_under_mocks(program, stack)
        best = min(best, time.perf_counter() - t)
    return best


def _functions_with_alarms(n: int) -> list:
    """``n`` traced functions, each with its role and an Errors alarm whose FunctionName is unknown in
    preview and linked to the function by a property dependency, as a program's records reach the pack."""
    from google.protobuf import struct_pb2
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    from offline.mocks import ResourceRecord

    def record(type_: str, name: str, props: dict, pdeps: dict | None = None) -> ResourceRecord:
        struct = struct_pb2.Struct()
        struct.update(props)
        return ResourceRecord(type=type_, name=name, urn=f"urn:pulumi:bench::growth::{type_}::{name}", custom=True,
                              parent="", dependencies=[], property_dependencies=dict(pdeps or {}),
                              inputs_struct=struct, outputs_struct=struct)

    records = []
    for i in range(n):
        fn = record("aws:lambda/function:Function", f"f{i}", {
            "name": f"f{i}", "timeout": 30.0, "role": f"arn:aws:iam::1:role/r{i}", "tracingConfig": {"mode": "Active"}})
        records += [fn,
                    record("aws:cloudwatch/metricAlarm:MetricAlarm", f"e{i}", {
                        "name": f"e{i}", "namespace": "AWS/Lambda", "metricName": "Errors",
                        "dimensions": {"FunctionName": UNKNOWN_STRING_VALUE}}, pdeps={"dimensions": [fn.urn]}),
                    record("aws:iam/role:Role", f"r{i}", {"name": f"r{i}"})]
    return records


def stack_policy_growth() -> list[tuple[str, object, str]]:
    """``AnalyzeStack`` at 1x and 4x the resources, and the ratio of the two times."""
    from offline import heap
    from offline.policy_driver import InProcessAnalyzer, reconcile_config
    from policies.xray_rules import PACK_NAME, build_policies

    analyzer = InProcessAnalyzer(PACK_NAME, build_policies())
    info = analyzer.configure_stack("growth", "bench", "organization", True, {})
    analyzer.configure(reconcile_config(info, {}))
    seconds = {}
    for n in STACK_SIZES:  # under the pack server's collector setting (policies/__main__.py, offline.heap)
        records = _functions_with_alarms(n)
        runs = []
        with heap.long_lived():
            for _ in range(STACK_REPEATS):
                t = time.perf_counter()
                analyzer.analyze_stack(records, "urn:root")
                runs.append(time.perf_counter() - t)
        seconds[n] = min(runs)
    small, large = STACK_SIZES
    figures: list[tuple[str, object, str]] = [
        (f"stack policies (AnalyzeStack), {3 * n} resources: time", seconds[n], "s") for n in STACK_SIZES]
    figures.append((f"growth: AnalyzeStack time at {large // small}x the resources ÷ at 1x", seconds[large] / seconds[small],
                    f"~{large // small} is linear, {(large // small) ** 2} quadratic"))
    return figures


def sarif_rendering() -> list[tuple[str, object, str]]:
    """``--format sarif`` of ``SARIF_RESULTS`` findings on as many resources (best of ``STACK_REPEATS``)."""
    from contract.suppression import KIND_IN_SOURCE, Marker, marker_line
    from offline.formats import sarif
    from offline.policy_driver import Diagnostic
    from offline.preview import PreviewResult
    from offline.program import RunResult, StackConfig

    records = _functions_with_alarms(SARIF_RESULTS // 3 + 1)[:SARIF_RESULTS]
    source = (REPO / "__main__.py").as_uri()
    diagnostics = []
    for i, r in enumerate(records):
        r.source_uri, r.source_line = source, i + 1
        policy = "lambda-tracing-active" if i % 2 else "alarm-missing-data-class"
        message = f"{policy} description.\nResource '{r.name}' breaks the rule; change it so (FR-013)."
        if i % 5 == 0:
            marker = Marker(KIND_IN_SOURCE, f"tag policy-suppress:{policy}", "2099-12-31", "accepted for the bench")
            diagnostics.append(Diagnostic(policy, "xray-exclusive-tracing@v0.1.0", "advisory", r.urn,
                                          f"{marker_line(marker)}\n{message}"))
        else:
            diagnostics.append(Diagnostic(policy, "xray-exclusive-tracing@v0.1.0", "mandatory", r.urn, message))
    result = PreviewResult(RunResult(StackConfig("bench", "sarif", REPO, {}), records, {}, True), "xray-exclusive-tracing",
                           "0.1.0", diagnostics, [], {"lambda-tracing-active": ("mandatory", {}),
                                                      "alarm-missing-data-class": ("advisory", {})}, 0.0)
    runs, size = [], 0
    for _ in range(STACK_REPEATS):
        t = time.perf_counter()
        size = len(sarif.render(result))
        runs.append(time.perf_counter() - t)
    return [(f"SARIF rendering cost for {SARIF_RESULTS:,} results (sarif-om objects to JSON)", min(runs), "s"),
            (f"SARIF rendering, {SARIF_RESULTS:,} results: document size", size / 1e6, "MB")]


def measure() -> list[tuple[str, object, str]]:
    figures: list[tuple[str, object, str]] = stack_policy_growth() + sarif_rendering()
    # Each preview is paired with a baseline run just before or after it (the order alternates), and the overhead
    # is the median of the pairs' ratios: the machine's speed drifts by 10-30 % from one run to the next, which a
    # pair mostly shares; the best of each side (also shown) follows the one luckiest baseline run.
    prod_runs = []
    for i in range(PROD_REPEATS):
        if i % 2:
            without_i = mocks_only(REPO, "prod", repeats=1)
            prod_runs.append((preview(REPO, "prod", repeats=1), without_i))
        else:
            prod_runs.append((preview(REPO, "prod", repeats=1), mocks_only(REPO, "prod", repeats=1)))
    prod = min((p for p, _ in prod_runs), key=lambda p: p.seconds)
    without = min(m for _, m in prod_runs)
    n = prod.doc["summary"]["resources"]
    figures += [
        (f"offline preview, prod stack ({n} resources): wall time", prod.seconds, "s (best)"),
        ("prod stack under mocks without the pack: wall time", without, "s (best)"),
        ("policy overhead: preview with pack ÷ mocks only, median of the pairs' ratios",
         statistics.median(p.seconds / m for p, m in prod_runs), "target ≤ 1.15"),
        ("policy overhead: best preview ÷ best mocks only", prod.seconds / without, "x"),
        ("prod stack mandatory violations", prod.doc["summary"]["mandatory"], "must be 0"),
    ]
    per_resource = {}
    with tempfile.TemporaryDirectory() as tmp:
        for target in (1000, 5000, LARGE):
            d = Path(tmp) / f"n{target}"
            write_program(d, target)
            if target == LARGE:
                # The preview and the SDK's floor alternate (best of REPEATS each): the machine's speed drifts by
                # 10-20 % over the minutes these take, and their ratio is the figure that says what the runner adds.
                runs = [(preview(d, "bench", repeats=1), sdk_floor(d)) for _ in range(REPEATS)]
                synth = min((p for p, _ in runs), key=lambda p: p.seconds)
                floor = min((f for _, f in runs), key=lambda f: f["seconds"])
            else:
                synth = preview(d, "bench")
            count = synth.doc["summary"]["resources"]
            per_resource[target] = synth.seconds / count * 1000
            figures += [
                (f"synthetic {count} resources, offline preview end to end", synth.seconds,
                 {1000: "target ≤ 6 s", LARGE: "target ≤ 30 s"}.get(target, "s")),
                (f"synthetic {count} resources: ms per resource", per_resource[target], "ms"),
                (f"synthetic {count} resources: peak RSS of the runner", synth.runner_mb,
                 "target ≤ 800 MB" if target == LARGE else "MB"),
                (f"synthetic {count} resources: peak RSS of the pack", synth.pack_mb,
                 "target ≤ 800 MB" if target == LARGE else "MB"),
                (f"synthetic {count} resources: peak RSS of the feeder", synth.feeder_mb, "MB"),
            ]
            if target == LARGE:
                figures += [
                    (f"synthetic {count} resources under Pulumi's own mocks alone (the SDK's floor): wall time",
                     floor["seconds"], "s"),
                    (f"synthetic {count} resources under Pulumi's own mocks alone: peak RSS", floor["max_rss_mb"],
                     "MB (the runner's peak cannot be lower)"),
                    (f"synthetic {count} resources: preview ÷ the SDK's floor, wall time",
                     synth.seconds / floor["seconds"], "x"),
                    (f"synthetic {count} resources: runner's peak RSS above the SDK's floor",
                     synth.runner_mb - floor["max_rss_mb"], "MB"),
                ]
    figures.append(("growth: ms/resource at 5,000 ÷ at 1,000", per_resource[5000] / per_resource[1000],
                    "~1.0 means linear"))
    figures.append((f"growth: ms/resource at {LARGE:,} ÷ at 1,000", per_resource[LARGE] / per_resource[1000],
                    "~1.0 means linear"))
    return figures
