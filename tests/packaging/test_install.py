"""Issue 11, "Installable": ``pip install .`` gives the ``xray-tracing`` console script and importable
components, and the installed copy works from a directory that is not this repository.

Each test runs what a user of the wheel runs, from ``tmp_path`` (outside the repository), with an environment
that points nowhere into it (``Installed.environ``).
"""
from __future__ import annotations

import json
import subprocess
import tomllib
import zipfile
from pathlib import Path

from contract.distribution import CONSOLE_SCRIPT, IMPORT_PACKAGE, NAME, VERSION
from tests.packaging.conftest import REPO, Installed

PREVIEW_TIMEOUT_S = 180  # a small program and the pack on a loaded 2-core machine: ~15 s
POWERTOOLS_LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:7"

OTHER_TEAM_PROGRAM = f'''"""Another team's program: a function through the installed components, and a legacy one."""
from pathlib import Path

import pulumi
import pulumi_aws as aws

from {IMPORT_PACKAGE} import COMMON_DIR, TracedLambda, TracedLambdaArgs

topic = aws.sns.Topic("alarms")
orders = TracedLambda("orders", TracedLambdaArgs(
    environment="ci", function="orders", code_dir=Path(__file__).parent / "src" / "orders", common_dir=COMMON_DIR,
    powertools_layer_arn="{POWERTOOLS_LAYER}", alarm_topic_arn=topic.arn))

if pulumi.Config().get_bool("legacy"):
    role = aws.iam.Role("legacy-role", assume_role_policy=aws.iam.get_policy_document(statements=[{{
        "actions": ["sts:AssumeRole"], "principals": [{{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}}],
    }}]).json)
    aws.lambda_.Function("legacy", role=role.arn, runtime="python3.13", handler="app.handler",
                         code=pulumi.FileArchive(str(Path(__file__).parent / "src" / "orders")))
'''


def _other_team_program(root: Path) -> Path:
    program = root / "orders-service"
    (program / "src" / "orders").mkdir(parents=True)
    (program / "src" / "orders" / "app.py").write_text(
        "from common import lambda_handler\n\n\n@lambda_handler\ndef handler(event, context):\n    return {}\n")
    (program / "Pulumi.yaml").write_text("name: orders-service\nruntime: python\n")
    (program / "Pulumi.ci.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (program / "Pulumi.legacy.yaml").write_text("config:\n  aws:region: us-east-1\n  orders-service:legacy: true\n")
    (program / "__main__.py").write_text(OTHER_TEAM_PROGRAM)
    return program


def _script(installed: Installed, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(installed.script), *args], cwd=cwd, env=installed.environ(), capture_output=True,
                          text=True, timeout=PREVIEW_TIMEOUT_S)


def test_issue11_pyproject_names_the_contract_distribution_and_pins_as_requirements_txt() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["name"] == NAME
    assert project["scripts"] == {CONSOLE_SCRIPT: f"{IMPORT_PACKAGE}.cli:main"}
    pins = {line.split("==")[0].lower(): line for line in (REPO / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    differing = [d for d in declared if pins.get(d.split("==")[0].lower()) != d]
    assert not differing, f"pyproject.toml pins these unlike requirements.txt: {differing}"


def test_issue11_wheel_carries_the_pack_and_common_as_files(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for wanted in ("policies/__main__.py", "policies/PulumiPolicy.yaml", "policies/requirements.txt",
                   "policies/contract/__init__.py", "policies/xray_rules/define.py", "xray_tracing/common/handler.py",
                   "contract/distribution.py", "components/packaging.py", "offline/__main__.py"):
        assert wanted in names, f"the wheel lacks {wanted}"
    assert not any(n.startswith(("tests/", "handlers/", "bench/", "offline/e2e/")) or n == "__main__.py" for n in names)


def test_issue11_console_script_prints_the_installed_version(installed: Installed, tmp_path: Path) -> None:
    done = _script(installed, "--version", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, f"{NAME} {VERSION}"), done.stderr
    metadata = subprocess.run([str(installed.python), "-c", f"import importlib.metadata as m; print(m.version({NAME!r}))"],
                              cwd=tmp_path, env=installed.environ(), capture_output=True, text=True, timeout=60)
    assert metadata.stdout.strip() == VERSION, metadata.stderr


def test_issue11_every_package_is_imported_from_the_installed_copy(installed: Installed, tmp_path: Path) -> None:
    code = ("import json, components, contract, offline.preview, policies, standins, xray_tracing; print(json.dumps("
            "{m.__name__: m.__file__ for m in (components, contract, offline, policies, standins, xray_tracing)} | "
            "{'common': str(xray_tracing.COMMON_DIR), 'pack': str(xray_tracing.PACK_DIR), "
            "'runner_pack': str(offline.preview.DEFAULT_PACK)}))")
    done = subprocess.run([str(installed.python), "-c", code], cwd=tmp_path, env=installed.environ(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    where = json.loads(done.stdout)
    outside = {name: path for name, path in where.items() if not Path(path).is_relative_to(installed.site_packages)}
    assert not outside, f"imported from outside the installed copy: {outside}"
    assert (Path(where["common"]) / "handler.py").is_file() and (Path(where["pack"]) / "PulumiPolicy.yaml").is_file()
    assert where["runner_pack"] == where["pack"], "the runner's default pack is not the installed one"


def test_issue11_other_team_program_previews_with_the_installed_pack(installed: Installed, tmp_path: Path) -> None:
    """``from xray_tracing import TracedLambda`` in another repository, previewed by the script where it runs."""
    program = _other_team_program(tmp_path)
    done = _script(installed, "preview", "--stack", "ci", "--json", cwd=program)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["project"], result["pack"]["name"], result["pack"]["version"]) == \
        ("orders-service", "xray-exclusive-tracing", "0.1.0")
    types = {r["type"] for r in result["resources"]}
    assert {"sentiment:observability:TracedLambda", "aws:lambda/function:Function",
            "aws:cloudwatch/metricAlarm:MetricAlarm"} <= types
    assert result["summary"]["mandatory"] == 0, result["policies"]


def test_issue11_installed_pack_rejects_the_other_team_untraced_function(installed: Installed, tmp_path: Path) -> None:
    """The same program with a plain function beside the component: the pack (installed) fails it, exit 1.
    Run from elsewhere with ``--program``: the explicit directory wins over the current one."""
    program = _other_team_program(tmp_path)
    done = _script(installed, "preview", "--program", str(program), "--stack", "legacy", "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    mandatory = [p for p in result["policies"] if p["level"] == "mandatory"]
    assert {"lambda-tracing-active", "lambda-error-alarm"} <= {p["policy"] for p in mandatory}
    assert all(p["urn"].endswith("::legacy") for p in mandatory), mandatory  # the component's function passes


def test_issue11_script_previews_the_program_of_the_current_directory(installed: Installed, tmp_path: Path) -> None:
    """No Pulumi.yaml where it runs: the one-line error names the directory (exit 2), not the install's."""
    done = _script(installed, "preview", cwd=tmp_path)
    assert done.returncode == 2
    assert str(tmp_path) in done.stderr and "Traceback" not in done.stderr


def test_issue11_script_refuses_e2e_in_one_line(installed: Installed, tmp_path: Path) -> None:
    """``e2e`` runs this repository's own system; installed, the script says where to run it instead."""
    done = _script(installed, "e2e", "--stack", "prod", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "python -m offline e2e" in done.stderr


def test_issue11_script_leaves_a_program_its_own_contract_package(installed: Installed, tmp_path: Path) -> None:
    """The script loads none of this distribution's generic top-level packages before the program runs."""
    program = tmp_path / "own-contract"
    (program / "contract").mkdir(parents=True)
    (program / "contract" / "__init__.py").write_text("OWNER = 'billing team'\n")
    (program / "Pulumi.yaml").write_text("name: own-contract\nruntime: python\n")
    (program / "Pulumi.ci.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (program / "__main__.py").write_text("import pulumi\nimport pulumi_aws as aws\nimport contract\n\n"
                                         "aws.sqs.Queue('work', tags={'owner': contract.OWNER})\n"
                                         "pulumi.export('owner', contract.OWNER)\n")  # a program registers something
    done = _script(installed, "preview", "--stack", "ci", "--json", cwd=program)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"] == {"owner": "billing team"}
