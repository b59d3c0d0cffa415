"""``python -m offline preview`` tried as a new user would (issue 11, "Runner robustness"): a program or a
policy that hangs ends at ``--timeout`` naming what hung; SIGTERM and SIGINT never leave the pack process
behind; ``os._exit(0)`` and an empty program are no clean pass; malformed YAML names the file and the line;
unknown policy settings warn. Every error is exit 2 (128 + N for signal N) and one line, never a traceback.

Each test runs the real command in a fresh interpreter, as ``test_cli`` does."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.policies.conftest import PROGRAMS, REPO, run_cli

HANGING_PACK = PROGRAMS / "packs" / "hangs_in_analyze"
FEEDER = b"offline.feeder"  # the command line of the process carrying the Analyze calls (offline/feeder.py)
#: A progress line of the runner ("offline preview: running the program (3 resources), 2.0 s"), not an error.
PROGRESS = re.compile(r"^offline preview: .*, \d+\.\d s$")
#: ``--timeout`` of the hang tests: the run's deadline, so it must leave the run time to reach the hang (the
#: pack's start, the program's imports: about 4 s on a loaded 2-core machine) with a wide margin.
HANG_TIMEOUT = 15
#: A hung run ends at its deadline, plus the interpreter's start and the pack's thread dump: generous.
HANG_BOUND_SECONDS = 60.0
SIGNAL_BOUND_SECONDS = 30.0
#: How long a run may take to reach the hang (start, imports, the pack's start) before the test gives up.
REACH_SECONDS = 120.0


def _only_line(stderr: str, prefix: str = "error: ") -> str:
    """The one line of ``stderr`` starting with ``prefix``; everything else may only be progress lines."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    found = [ln for ln in lines if ln.startswith(prefix)]
    assert len(found) == 1, stderr
    assert [ln for ln in lines if not ln.startswith(prefix) and not PROGRESS.match(ln)] == [], stderr
    return found[0]


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting to be reaped by whoever inherited it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pack_children(parent: int, command: bytes = b"pulumi.policy") -> list[int]:
    """Pids of the ``python -u -m pulumi.policy`` children of ``parent`` (or those running ``command``: the
    feeder is ``offline.feeder``), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and command in cmdline:
            found.append(int(entry.name))
    return found


def _until(condition, what: str, seconds: float = REACH_SECONDS):
    """Poll ``condition`` (cheap, a file or /proc) until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {seconds:g} s")


def _start(*args: str, marker: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if marker is not None:
        env["HANG_MARKER"] = str(marker)  # the hanging policy writes its pid there as it starts to hang
    return subprocess.Popen([sys.executable, "-m", "offline", "preview", "--stack", "test", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _end(proc: subprocess.Popen, *pids: int) -> None:
    """After a test, pass or fail: nothing it started keeps running."""
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)


def test_program_that_hangs_ends_at_timeout_naming_its_line():
    """Issue 11: a program that never returns ends at ``--timeout`` (exit 2), naming the program's line."""
    program = PROGRAMS / "program_hangs"
    started = time.monotonic()
    proc = run_cli("preview", "--stack", "test", "--program", str(program), "--timeout", str(HANG_TIMEOUT), timeout=120)
    assert time.monotonic() - started < HANG_BOUND_SECONDS
    assert proc.returncode == 2, proc.stderr
    line = _only_line(proc.stderr)
    where = f"program_hangs/__main__.py:{_line_of(program / '__main__.py', 'Event().wait()')}"
    assert f"the program did not finish within {HANG_TIMEOUT} s" in line and where in line, line


def test_policy_that_hangs_ends_at_timeout_naming_the_resource_and_the_policy_code(tmp_path):
    """Issue 11: a policy that never returns ends the run at ``--timeout`` (exit 2), naming the pack call, its
    resource and the line of policy code the pack is stuck in; the pack process does not outlive the run."""
    marker = tmp_path / "pack.pid"
    started = time.monotonic()
    proc = _start("--program", str(PROGRAMS / "policy_hangs"), "--policy-pack", str(HANGING_PACK),
                  "--timeout", str(HANG_TIMEOUT), marker=marker)
    try:
        _, stderr = proc.communicate(timeout=120)
        assert time.monotonic() - started < HANG_BOUND_SECONDS
        assert marker.exists(), stderr  # the policy was reached before the deadline
        pack = int(marker.read_text())
        assert proc.returncode == 2, stderr
        line = _only_line(stderr)
        where = f"hangs_in_analyze/__main__.py:{_line_of(HANGING_PACK / '__main__.py', 'Event().wait()')}"
        assert "the policy pack did not answer Analyze of " in line, line
        assert f"urn:pulumi:test::policy-hangs::aws:sqs/queue:Queue::work within {HANG_TIMEOUT} s" in line, line
        assert f"{where} in never_returns" in line, line
        assert not _alive(pack)
    finally:
        _end(proc, *([int(marker.read_text())] if marker.exists() else []))


def test_pack_that_hangs_as_it_starts_ends_at_timeout_naming_its_line(tmp_path):
    """Issue 11: a pack that never gets to serve (it hangs at import) ends the run at ``--timeout`` too, naming
    the pack's first call and the line it is stuck at."""
    pack = tmp_path / "slow_pack"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (pack / "__main__.py").write_text("import threading\n\nthreading.Event().wait()\n")
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "policy_hangs"), "--policy-pack",
                   str(pack), "--timeout", str(HANG_TIMEOUT), timeout=120)
    assert proc.returncode == 2, proc.stderr
    line = _only_line(proc.stderr)
    assert f"the policy pack did not answer ConfigureStack (its first call) within {HANG_TIMEOUT} s" in line, line
    assert "it hangs at slow_pack/__main__.py:3 in <module>" in line, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_a_policy_hangs_stops_the_pack_process(tmp_path, sig):
    """Issue 11: SIGTERM (which used to orphan it) or SIGINT to the runner while a policy hangs: the pack
    process is gone, and the runner exits promptly with 128 + the signal and one line."""
    marker = tmp_path / "pack.pid"
    proc = _start("--program", str(PROGRAMS / "policy_hangs"), "--policy-pack", str(HANGING_PACK), marker=marker)
    pack = 0
    try:
        pack = int(_until(lambda: marker.exists() and marker.read_text(), "the policy starting to hang"))
        assert _pack_children(proc.pid) == [pack]
        feeders = _pack_children(proc.pid, FEEDER)
        assert len(feeders) == 1
        sent = time.monotonic()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=SIGNAL_BOUND_SECONDS)
        assert time.monotonic() - sent < SIGNAL_BOUND_SECONDS
        assert proc.returncode == 128 + sig, stderr
        assert f"stopped by {sig.name}" in _only_line(stderr)
        assert not _alive(pack)
        assert [f for f in feeders if _alive(f)] == []  # the process carrying the Analyze calls is gone too
    finally:
        _end(proc, *([pack] if pack else []))


def test_sigterm_while_the_program_hangs_stops_the_pack_process():
    """Issue 11: SIGTERM while the program (not the pack) hangs: the idle pack process is stopped too."""
    proc = _start("--program", str(PROGRAMS / "program_hangs"))
    packs: list[int] = []
    try:
        packs = _until(lambda: _pack_children(proc.pid), "the pack process starting")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=SIGNAL_BOUND_SECONDS)
        assert proc.returncode == 128 + signal.SIGTERM, stderr
        assert "stopped by SIGTERM" in _only_line(stderr)
        assert [p for p in packs if _alive(p)] == []
    finally:
        _end(proc, *packs)


def test_program_calling_os_exit_is_exit_2_not_a_clean_pass():
    """Issue 11: the program runs in the runner's process, where ``os._exit(0)`` would end it with status 0
    and no output; it is exit 2 with one line instead."""
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "program_os_exit"))
    assert proc.returncode == 2, proc.stderr
    assert "the program called os._exit(0) before it finished" in _only_line(proc.stderr)
    assert proc.stdout == ""


def test_program_registering_nothing_is_exit_2_not_a_clean_pass():
    """Issue 11: a program that declares no resource (its stack is built by a function nobody calls) has
    nothing to check: exit 2, not "all policies passed"."""
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "registers_nothing"))
    assert proc.returncode == 2, proc.stderr
    assert "registered no resources, so there is nothing to check" in _only_line(proc.stderr)


def _project(root: Path) -> tuple[Path, Path]:
    program, pack = root / "program", root / "pack"
    program.mkdir()
    pack.mkdir()
    (program / "Pulumi.yaml").write_text("name: yaml-check\nruntime: python\n")
    (program / "Pulumi.test.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (program / "__main__.py").write_text("import pulumi_aws as aws\naws.sqs.Queue('q')\n")
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (pack / "__main__.py").write_text("raise SystemExit('not reached: the YAML files are read first')\n")
    return program, pack


@pytest.mark.parametrize(("where", "text", "line"), [
    ("program/Pulumi.test.yaml", "config:\n  aws:region: us-east-1\n   owner: [team\n", 3),
    ("program/Pulumi.yaml", "name: yaml-check\nruntime: python\n\tmain: app/\n", 3),
    ("pack/PulumiPolicy.yaml", "runtime: python\nversion: \"0.0.1\n", 3),
    ("program/Pulumi.test.yaml", "config: [us-east-1]\n", 1),
    ("program/Pulumi.yaml", "- name: yaml-check\n", 1),
], ids=["stack-file", "project-file", "policy-pack-file", "stack-config-not-a-mapping", "project-not-a-mapping"])
def test_malformed_yaml_is_exit_2_naming_the_file_and_line(tmp_path, where, text, line):
    """Issue 11: broken YAML in the stack file, Pulumi.yaml or PulumiPolicy.yaml is exit 2 and one line
    ``<file>:<line>: ...``, never exit 1 with a traceback."""
    program, pack = _project(tmp_path)
    (tmp_path / where).write_text(text)
    proc = run_cli("preview", "--stack", "test", "--program", str(program), "--policy-pack", str(pack))
    assert proc.returncode == 2, proc.stderr
    assert _only_line(proc.stderr).startswith(f"error: {tmp_path / where}:{line}: "), proc.stderr


def test_unknown_policy_setting_warns_in_one_line_and_the_run_goes_on(tmp_path):
    """Issue 11: a setting a policy does not have (a typo) is one warning line; the run goes on and passes."""
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"lambda-latency-alarm": {"minFractoin": 0.8}}))
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "compliant"),
                   "--policy-pack-config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    line = _only_line(proc.stderr, prefix="warning: ")
    assert "policy 'lambda-latency-alarm' has no setting 'minFractoin'" in line and "minFraction" in line, line
    assert "all policies passed" in proc.stdout


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_timeout_must_be_a_positive_number(value):
    proc = run_cli("preview", "--timeout", value)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{value!r} is not a positive number of seconds" in proc.stderr.splitlines()[-1]
