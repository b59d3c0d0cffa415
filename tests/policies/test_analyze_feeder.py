"""The process that carries a preview's Analyze calls to the pack (``offline/feeder.py``, issue 11's 10,000-resource
figure): the pack's verdicts through it are those of the pack's own servicer, in the order of the resources,
however far the answers run ahead of the runner's reading; a pack that fails, or a feeder that dies, is one line
and exit 2; and neither the feeder nor the pack outlives the runner, even one killed with SIGKILL."""
from __future__ import annotations

import os
import signal

from google.protobuf import struct_pb2

from offline.mocks import ResourceRecord
from offline.policy_driver import InProcessAnalyzer, PolicyPackProcess, reconcile_config
from policies.xray_rules import PACK_NAME, build_policies
from tests.policies.conftest import PACK, PROGRAMS, run_cli
from tests.policies.test_runner_robustness import (
    FEEDER,
    HANGING_PACK,
    SIGNAL_BOUND_SECONDS,
    _alive,
    _end,
    _only_line,
    _pack_children,
    _start,
    _until,
)

FAILING_PACK = PROGRAMS / "packs" / "fails_in_analyze"
#: Enough functions that the requests (about 0.5 KB each) and the answers (one violation each, about 0.3 KB) are
#: each several times a pipe's 64 KB: the feeder must keep calling while nobody reads its answers yet.
FUNCTIONS = 1500


def _functions(n: int) -> list[ResourceRecord]:
    """Functions without Active tracing: each one is a ``lambda-tracing-active`` violation of its own."""
    out = []
    for i in range(n):
        props = {"name": f"fn{i}", "role": f"arn:aws:iam::123456789012:role/r{i}", "runtime": "python3.12",
                 "tracingConfig": {"mode": "PassThrough"}}
        struct = struct_pb2.Struct()
        struct.update(props)
        out.append(ResourceRecord(type="aws:lambda/function:Function", name=f"fn{i}",
                                  urn=f"urn:pulumi:test::feeder::aws:lambda/function:Function::fn{i}", custom=True,
                                  parent="", dependencies=[], property_dependencies={}, inputs_struct=struct))
    return out


def _configured(analyzer):
    """The analyzer configured as a preview configures it: the pack's defaults, no user config."""
    analyzer.configure(reconcile_config(analyzer.configure_stack("feeder", "test", "organization", True, {}), {}))
    return analyzer


def _pack():
    return PolicyPackProcess(PACK, project="feeder", stack="test", config={"aws:region": "us-east-1"})


def _verdicts(found: list[tuple[list, list]]) -> list[list[tuple[str, str, str, str]]]:
    return [[(d.policy, d.level, d.urn, d.message) for d in diags] + [("n/a", n["policy"], n["urn"], n["reason"])
                                                                      for n in na]
            for diags, na in found]


def test_issue11_verdicts_through_the_feeder_are_the_servicers_in_resource_order():
    """Issue 11: every answer read back (after all were sent, as a preview reads them when its program ends) is
    the verdict the pack's own servicer gives that resource, and it is that resource's: the feeder's answers
    are in request order even when thousands are in flight and both pipes are full."""
    records = _functions(FUNCTIONS)
    reference = _configured(InProcessAnalyzer(PACK_NAME, build_policies()))
    expected = _verdicts([reference.analyze(r) for r in records])

    with _pack() as pack:
        _configured(pack)
        readers = pack.analyze_batch(records[:10]) + pack.analyze_batch(records[10:])  # two writes, one stream
        assert pack.feeder is not None  # the calls went through it, not from this process
        got = _verdicts([read() for read in readers])

    assert got == expected
    assert all(any(v[0] == "lambda-tracing-active" and v[2] == r.urn for v in found)
               for r, found in zip(records, got, strict=True))


def test_issue11_a_policy_that_raises_is_one_line_with_its_error():
    """Issue 11: a policy with a bug (it raises in Analyze) ends the run with exit 2 and the pack's own error,
    not a traceback of the runner."""
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "policy_hangs"),
                   "--policy-pack", str(FAILING_PACK))
    assert proc.returncode == 2, proc.stderr
    line = _only_line(proc.stderr)
    assert "the policy pack failed in Analyze:" in line and "the policy broke on work" in line, line


def test_issue11_a_pack_that_crashes_in_analyze_is_one_line_saying_it_exited():
    """Issue 11: the pack's process ending in the middle of an Analyze call is exit 2 and one line that says the
    pack exited."""
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "policy_hangs"),
                   "--policy-pack", str(FAILING_PACK), env={"FAIL_MODE": "exit"})
    assert proc.returncode == 2, proc.stderr
    line = _only_line(proc.stderr)
    assert "the policy pack failed in Analyze:" in line and "pack exited" in line, line


def test_issue11_a_feeder_that_dies_ends_the_run_in_one_line(tmp_path):
    """Issue 11: if the process carrying the Analyze calls dies (killed here while the pack hangs), the run ends
    at once with exit 2 and one line naming it, instead of waiting for answers that cannot come."""
    marker = tmp_path / "pack.pid"
    proc = _start("--program", str(PROGRAMS / "policy_hangs"), "--policy-pack", str(HANGING_PACK), marker=marker)
    pack = 0
    try:
        pack = int(_until(lambda: marker.exists() and marker.read_text(), "the policy starting to hang"))
        feeders = _pack_children(proc.pid, FEEDER)
        assert len(feeders) == 1
        os.kill(feeders[0], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=SIGNAL_BOUND_SECONDS)
        assert proc.returncode == 2, stderr
        line = _only_line(stderr)
        assert "the process carrying Analyze calls to the pack stopped (exit -9)" in line, line
        assert not _alive(pack)
    finally:
        _end(proc, *([pack] if pack else []))


def test_issue11_nothing_outlives_a_runner_killed_with_sigkill(tmp_path):
    """Issue 11: SIGKILL gives the runner no chance to stop anything. The feeder sees its input end and exits on
    its own; the pack (whose protocol gives it no such signal) is ended by the kernel, as it was asked to be when
    it started (``PR_SET_PDEATHSIG``)."""
    marker = tmp_path / "pack.pid"
    proc = _start("--program", str(PROGRAMS / "policy_hangs"), "--policy-pack", str(HANGING_PACK), marker=marker)
    pack = 0
    feeders: list[int] = []
    try:
        pack = int(_until(lambda: marker.exists() and marker.read_text(), "the policy starting to hang"))
        feeders = _pack_children(proc.pid, FEEDER)
        assert len(feeders) == 1
        assert _pack_children(proc.pid) == [pack]
        proc.kill()
        proc.communicate(timeout=SIGNAL_BOUND_SECONDS)
        _until(lambda: not _alive(feeders[0]), "the feeder exiting", seconds=SIGNAL_BOUND_SECONDS)
        _until(lambda: not _alive(pack), "the pack exiting", seconds=SIGNAL_BOUND_SECONDS)
    finally:
        _end(proc, *feeders, *([pack] if pack else []))


def test_issue11_without_a_feeder_the_calls_go_from_the_runner(monkeypatch):
    """Issue 11: if the feeder cannot start (no process can be spawned), the same verdicts come from calls made
    in the runner's own process, and no feeder is left behind by the pack's close."""
    import offline.policy_driver as driver

    def cannot_start() -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(driver, "Feeder", cannot_start)
    records = _functions(30)
    with _pack() as pack:
        _configured(pack)
        got = _verdicts([read() for read in pack.analyze_batch(records)])
        assert pack.feeder is None
    reference = _configured(InProcessAnalyzer(PACK_NAME, build_policies()))
    assert got == _verdicts([reference.analyze(r) for r in records])


def test_issue11_closing_the_pack_stops_its_feeder():
    """Issue 11: ``close`` (every exit path of a run goes through it or through ``stop_all_packs``) ends the
    feeder with the pack."""
    with _pack() as pack:
        _configured(pack)
        [read() for read in pack.analyze_batch(_functions(3))]
        assert pack.feeder is not None
        feeder = pack.feeder.proc
        assert feeder.poll() is None
    assert feeder.poll() is not None


def test_issue11_answers_a_run_left_unread_are_not_the_next_runs():
    """Issue 11: a run that ends early (its program failed after some resources were sent) leaves answers nobody
    reads; the next run on the same pack (the tests share one) reads its own, not those."""
    first, second = _functions(40), _functions(60)[40:]
    with _pack() as pack:
        _configured(pack)
        left = pack.analyze_batch(first)
        left[0]()  # read one, leave 39
        got = [read() for read in pack.analyze_batch(second)]
    # Each message names its function: an answer of the first run would name one of fn0..fn39.
    assert [[d.message.split("'")[1] for d in diags] for diags, _ in got] == [[r.name] for r in second]


def test_issue11_the_pack_and_the_feeder_run_below_the_program():
    """Issue 11's prod overhead: the processes working while the program runs (the pack, the feeder) run
    ``own_process.BESIDE_THE_PROGRAM`` below the runner's CPU priority, so the scheduler gives the program's core to
    the program first; the runner itself keeps its priority."""
    from offline import own_process

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    with _pack() as pack:
        _configured(pack)
        [read() for read in pack.analyze_batch(_functions(3))]
        assert pack.feeder is not None
        below = min(19, mine + own_process.BESIDE_THE_PROGRAM)
        assert os.getpriority(os.PRIO_PROCESS, pack.proc.pid) == below
        assert os.getpriority(os.PRIO_PROCESS, pack.feeder.proc.pid) == below
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine
