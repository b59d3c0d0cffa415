"""``python -m offline preview`` as users run it: a fresh interpreter, the pack as a real subprocess
over real gRPC, exit status 0/1/2, one-line errors (DESIGN §6, issue 3 "Bad input to the runner"). A deploy
lacking Active tracing (FR-013) is the mandatory failure it reports; a bad threshold fraction for the
Duration alarms (FR-041, FR-061) is a config error that says what to change."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.policies.conftest import PROGRAMS, REPO, run_cli

#: ``python -m offline <args>`` that reports, as its last line on stderr, every top-level module first imported
#: on a thread other than the main one.
IMPORT_SPY = r"""
import atexit, runpy, sys, threading
off_main = set()
running = threading.Event()  # set while the program runs
# The CLI ends with os._exit after running the exit functions (no interpreter teardown): report from one.
atexit.register(lambda: print(sorted(off_main), file=sys.stderr))
class Spy:
    def find_spec(self, name, path=None, target=None):
        if path is None and running.is_set() and threading.current_thread() is not threading.main_thread():
            off_main.add(name)
        return None
sys.meta_path.insert(0, Spy())
from offline import preview
run_program = preview._run_program_quietly
def spied(*args, **kwargs):
    running.set()
    try:
        return run_program(*args, **kwargs)
    finally:
        running.clear()
preview._run_program_quietly = spied
sys.argv = ["offline", *sys.argv[1:]]
runpy.run_module("offline", run_name="__main__", alter_sys=True)
"""


def _one_line_error(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_compliant_program_exits_0_with_preview_text():
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "compliant"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "fixture:index:Monitoring" in out and "all policies passed" in out
    assert out.index("fixture:index:Monitoring") < out.index("Policies:") < out.index("Summary:")


def test_mandatory_violation_exits_1_and_json_has_the_documented_shape():
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "tracing_passthrough"), "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"resources", "policies", "summary"}
    assert [(p["policy"], p["level"], p["pack"]) for p in doc["policies"]] == [
        ("lambda-tracing-active", "mandatory", "xray-exclusive-tracing@v0.1.0")]
    fn = next(r for r in doc["resources"] if r["type"] == "aws:lambda/function:Function")
    assert doc["policies"][0]["urn"] == fn["urn"] == "urn:pulumi:test::tracing-passthrough::aws:lambda/function:Function::api"
    assert doc["summary"]["mandatory"] == 1 and doc["summary"]["exitCode"] == 1


def test_policy_pack_config_file_changes_the_exit_status(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"lambda-tracing-active": "advisory"}))
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "tracing_passthrough"),
                   "--policy-pack-config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert "[advisory]" in proc.stdout and "lambda-tracing-active" in proc.stdout


def test_program_with_its_own_event_loop_at_import_runs():
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "event_loop_at_import"))
    assert proc.returncode == 0, proc.stderr


def test_no_module_is_first_imported_off_the_main_thread_while_the_program_runs():
    """A program changes ``sys.path`` as it runs (``sys.path.insert(0, ...)``, as these fixtures and many
    programs do), and an import on the analysis thread meanwhile walks the list as it shifts and can miss the
    entry it needs: "No module named 'rpds'" from jsonschema failed previews at random on a loaded machine.
    So everything the analysis threads use while it runs is imported before it starts (the config check's
    fallback imports jsonschema once the program is done, and sys.path is the runner's again)."""
    proc = subprocess.run([sys.executable, "-c", IMPORT_SPY, "preview", "--stack", "test", "--program",
                           str(PROGRAMS / "event_loop_at_import")], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr


def test_directory_without_pulumi_yaml_exits_2(tmp_path):
    proc = run_cli("preview", "--program", str(tmp_path))
    assert proc.returncode == 2
    assert "Pulumi.yaml" in _one_line_error(proc)


def test_stack_without_config_file_exits_2():
    proc = run_cli("preview", "--stack", "nosuchstack", "--program", str(PROGRAMS / "compliant"))
    assert proc.returncode == 2
    assert "Pulumi.nosuchstack.yaml" in _one_line_error(proc)


def test_program_that_raises_exits_2_with_its_error(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: raiser\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text("import pulumi_aws as aws\naws.sqs.Queue('q')\n"
                                          "raise RuntimeError('boom: the program is broken')\n")
    proc = run_cli("preview", "--stack", "test", "--program", str(tmp_path))
    assert proc.returncode == 2
    assert "RuntimeError: boom: the program is broken" in _one_line_error(proc)


def test_pack_that_fails_to_start_exits_2(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (tmp_path / "__main__.py").write_text("import no_such_module_for_policies\n")
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "compliant"),
                   "--policy-pack", str(tmp_path))
    assert proc.returncode == 2
    line = _one_line_error(proc)
    assert "failed to start" in line and "no_such_module_for_policies" in line


def test_invalid_policy_pack_config_exits_2(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"lambda-latency-alarm": {"minFraction": "high"}}))
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "compliant"),
                   "--policy-pack-config", str(cfg))
    assert proc.returncode == 2
    assert "minFraction" in _one_line_error(proc)


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_project_stack_has_no_mandatory_violation(stack):
    """The project's own program passes its own pack (zero mandatory violations) on both stacks."""
    proc = run_cli("preview", "--stack", stack, "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-4000:]
    doc = json.loads(proc.stdout)
    assert doc["summary"]["mandatory"] == 0
    assert doc["summary"]["resources"] > 100
