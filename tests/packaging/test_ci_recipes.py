"""Issue 11, CI recipes: the GitHub Action (``action.yml``) and the pre-commit hook (``.pre-commit-hooks.yaml``)
run the command lines written in those files, here, with the console script installed by ``conftest``, on this
repository's prod stack (a user's repository root), and exit as the preview does.

The Action's install step (``pip install $GITHUB_ACTION_PATH``) needs an index for build isolation; the
``installed`` fixture builds and installs the same wheel offline instead.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from contract.distribution import CONSOLE_SCRIPT
from tests.packaging.conftest import REPO, Installed

RUN_TIMEOUT_S = 240  # the prod stack (223 resources) and the pack: ~20 s on a loaded 2-core machine
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _expand(value: str, inputs: dict[str, str]) -> str:
    """Fill ``${{ inputs.<name> }}`` as the runner does; any other expression is a test failure."""
    def one(found: re.Match[str]) -> str:
        expression = found.group(1)
        assert expression.startswith("inputs.") and expression[7:] in inputs, f"unexpected ${{{{ {expression} }}}}"
        return inputs[expression[7:]]
    return _EXPRESSION.sub(one, str(value))


def _action() -> dict:
    return yaml.safe_load((REPO / "action.yml").read_text())


def _preview_supports(option: str) -> bool:
    done = subprocess.run([sys.executable, "-m", "offline", "preview", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    return option in done.stdout


def test_issue11_action_is_composite_and_installs_this_distribution() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    steps = {s.get("id"): s for s in action["runs"]["steps"]}
    assert 'pip install --disable-pip-version-check "$GITHUB_ACTION_PATH"' in steps["install"]["run"]
    assert re.search(rf"(^|\s){CONSOLE_SCRIPT} ", steps["preview"]["run"])
    for step in steps.values():  # inputs reach scripts through env only (no ${{ }} spliced into a script)
        assert "${{" not in step.get("run", "")


def test_issue11_action_preview_step_runs_on_the_prod_stack(installed: Installed, tmp_path: Path) -> None:
    if not _preview_supports("--format"):
        pytest.skip("`preview --format` (the report formats) is not on this branch yet: the Action passes it through")
    action = _action()
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    inputs["working-directory"] = str(REPO)  # the checked-out workspace of a user's repository
    inputs["output"] = str(tmp_path / "report")  # e.g. for an upload-sarif step
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "preview"]
    env = installed.environ() | {k: _expand(v, inputs) for k, v in step["env"].items()}
    # GitHub runs `shell: bash` steps as `bash --noprofile --norc -eo pipefail {0}`.
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                          cwd=_expand(step["working-directory"], inputs), env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report").read_text() == done.stdout  # the report, on the log and in the file


def _hook() -> dict:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    return hook


def test_issue11_pre_commit_hook_is_the_console_script_on_the_whole_program() -> None:
    hook = _hook()
    assert (hook["language"], hook["pass_filenames"]) == ("python", False)
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert shlex.split(hook["entry"])[0] in scripts
    files = re.compile(hook["files"])
    assert all(files.search(p) for p in ("__main__.py", "components/alarms.py", "Pulumi.yaml", "Pulumi.prod.yaml"))
    assert not any(files.search(p) for p in ("README.md", "web/sse-client.js", "docs/decisions.md"))


def test_issue11_pre_commit_hook_entry_passes_the_prod_stack(installed: Installed) -> None:
    """What pre-commit runs at a repository root: entry, then the args of the user's config."""
    hook = _hook()
    command = shlex.split(hook["entry"]) + list(hook.get("args", [])) + ["--stack", "prod"]
    done = subprocess.run(command, cwd=REPO, env=installed.environ(), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert "xray-exclusive-tracing" in done.stdout  # the text report names the pack it ran


def test_issue11_pre_commit_hook_fails_a_commit_that_breaks_a_policy(installed: Installed, tmp_path: Path) -> None:
    program = tmp_path / "repo"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: untraced\nruntime: python\n")
    (program / "Pulumi.prod.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (program / "__main__.py").write_text(
        "import pulumi\nimport pulumi_aws as aws\n\n"
        "aws.lambda_.Function('untraced', role='arn:aws:iam::123456789012:role/r', runtime='python3.13',\n"
        "                     handler='app.handler', code=pulumi.AssetArchive({'app.py': pulumi.StringAsset('')}))\n")
    command = shlex.split(_hook()["entry"]) + ["--stack", "prod"]
    done = subprocess.run(command, cwd=program, env=installed.environ(), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert done.returncode == 1, done.stderr
    assert "lambda-tracing-active" in done.stdout
