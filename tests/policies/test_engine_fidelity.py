"""The offline preview sends a pack what the Pulumi engine sends it (issue 11, "Fidelity to the Pulumi engine").

Each test ports a case of pulumi-policy's own integration tests (pulumi/pulumi-policy tests/integration/<case>:
the program, its Python pack and the expectations of integration_test.go) to the fixture program
``programs/engine_fidelity`` and the probe pack ``programs/engine_probe_pack``, run through ``run_preview`` as
``python -m offline preview`` runs them. The probe pack reports what it saw as JSON in its messages.
docs/offline-fidelity.md lists the cases ported and those that cannot be.
"""
from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from offline.policy_driver import PackError, PackInfo, PolicyInfo, PolicyPackProcess, reconcile_config
from offline.preview import PreviewResult, run_preview
from offline.program import ProgramError
from offline.render import as_json, render_text
from tests.policies.conftest import _Shared

PROGRAMS = Path(__file__).resolve().parent / "programs"
PROGRAM = PROGRAMS / "engine_fidelity"
PACK = PROGRAMS / "engine_probe_pack"
PROJECT, STACK = "engine-probe", "test"
ROOT = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
AWS_VERSION = version("pulumi_aws")
DEFAULT_AWS = f"default_{AWS_VERSION.replace('.', '_')}"
#: The probes that report everything they see; the attribution probes are judged on their own.
OBSERVERS = {"observe-resource", "observe-stack"}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


@pytest.fixture(scope="module")
def probe_pack():
    pack = PolicyPackProcess(PACK, project=PROJECT, stack=STACK, dry_run=True, config={"aws:region": "us-east-1"})
    try:
        pack.wait_ready()
        yield pack
    finally:
        pack.close()


@pytest.fixture(scope="module")
def run(probe_pack, tmp_path_factory):
    def preview(program: Path = PROGRAM, config: dict | None = None, **kwargs) -> PreviewResult:
        cfg_file = None
        if config is not None:
            cfg_file = tmp_path_factory.mktemp("cfg") / "policy-config.json"
            cfg_file.write_text(json.dumps(config))
        return run_preview(program, STACK, pack_dir=PACK, pack_config=cfg_file,
                           analyzer_factory=lambda *_a, **_k: _Shared(probe_pack), **kwargs)
    return preview


@pytest.fixture(scope="module")
def result(run) -> PreviewResult:
    return run(tags={"foo": "bar", "hello": "world"})


def seen_by_resource(result: PreviewResult) -> dict[str, dict]:
    """What ``observe-resource`` saw in Analyze, by resource name."""
    return {(s := json.loads(d.message.split("\n", 1)[1]))["name"]: s
            for d in result.diagnostics if d.policy == "observe-resource"}


def seen_by_stack(result: PreviewResult) -> list[dict]:
    """What ``observe-stack`` saw in AnalyzeStack, in the order sent."""
    (d,) = [d for d in result.diagnostics if d.policy == "observe-stack"]
    return json.loads(d.message.split("\n", 1)[1])["resources"]


def test_provider(result):
    """pulumi-policy TestProvider: a resource's provider is sent to Analyze and AnalyzeStack: the default
    provider (``default_<version>``, its props the package's config and ``version``) or the explicit one
    (its inputs as the SDK sent them, with ``version``); providers, components and the Stack have none."""
    default = {"type": "pulumi:providers:aws", "name": DEFAULT_AWS, "urn": urn("pulumi:providers:aws", DEFAULT_AWS),
               "props": {"region": "us-east-1", "version": AWS_VERSION}}
    explicit = {"type": "pulumi:providers:aws", "name": "my-provider", "urn": urn("pulumi:providers:aws", "my-provider")}
    for seen in (seen_by_resource(result), {s["name"]: s for s in seen_by_stack(result)}):
        assert seen["plain"]["provider"] == default
        props = seen["with-provider"]["provider"].pop("props")
        assert seen["with-provider"]["provider"] == explicit
        assert (props["region"], props["version"]) == ("us-west-2", AWS_VERSION)
        assert seen["my-provider"]["provider"] is None and seen[DEFAULT_AWS]["provider"] is None
        assert seen["group"]["provider"] is None
    assert seen_by_stack(result)[0]["provider"] is None  # the Stack


def test_provider_default_is_in_the_stack_where_the_engine_registers_it(result):
    """pulumi-policy TestProvider (validate-stack): the default provider is one of the stack's resources,
    registered just before its first user, with no parent; the program's own resources stay as they were."""
    stack = seen_by_stack(result)
    names = [s["name"] for s in stack]
    first_user = next(i for i, s in enumerate(stack) if (s["provider"] or {}).get("name") == DEFAULT_AWS)
    assert names.count(DEFAULT_AWS) == 1 and names.index(DEFAULT_AWS) == first_user - 1
    (default,) = [s for s in seen_by_stack(result) if s["name"] == DEFAULT_AWS]
    assert default["opts"]["parent"] is None
    assert DEFAULT_AWS not in {r["name"] for r in as_json(result)["resources"]}  # not a declared resource


@pytest.mark.parametrize("name,expected", [
    ("plain", {}),
    ("protect", {"protect": True}),
    ("ignoreChanges", {"ignore_changes": ["foo", "bar"]}),
    ("deleteBeforeReplaceTrue", {"delete_before_replace": True}),
    ("deleteBeforeReplaceFalse", {"delete_before_replace": False}),
    ("aliased", {}),  # the engine sends only aliases that matched a resource of the last deployment: none
    ("timeouts", {"custom_timeouts": [60, 120, 180]}),
    ("timeouts-create", {"custom_timeouts": [240, 0, 0]}),
    ("secrets", {"additional_secret_outputs": ["foo"]}),
])
def test_resource_options(result, name, expected):
    """pulumi-policy TestResourceOptions: every option of AnalyzerResourceOptions, in Analyze and AnalyzeStack."""
    unset = {"protect": False, "ignore_changes": [], "delete_before_replace": None, "aliases": [],
             "additional_secret_outputs": [], "custom_timeouts": [0, 0, 0]}
    stack_seen = {s["name"]: s for s in seen_by_stack(result)}
    for seen in (seen_by_resource(result)[name], stack_seen[name]):
        opts = dict(seen["opts"])
        parent = opts.pop("parent")
        assert opts == {**unset, **expected}
        assert parent == (urn("probe:index:Group", "group") if name == "protect" else ROOT)


def test_stack_tags(result):
    """pulumi-policy TestStackTags: the stack's tags reach resource and stack policies (``args.stack_tags``),
    with the tags the CLI puts on every stack from Pulumi.yaml."""
    tags = {"foo": "bar", "hello": "world", "pulumi:project": PROJECT, "pulumi:runtime": "python",
            "pulumi:description": "What the engine sends a policy pack, ported from pulumi-policy's integration tests."}
    (d,) = [d for d in result.diagnostics if d.policy == "observe-stack"]
    assert json.loads(d.message.split("\n", 1)[1])["stack_tags"] == tags
    assert seen_by_resource(result)["plain"]["stack_tags"] == tags


def test_validate_stack_violation_with_urn_is_that_resources(result):
    """pulumi-policy TestValidateStack scenario 5 (``report_violation(msg, r.urn)``): the violation is the named
    resource's; one with no URN, or a URN not in the stack, is the root Stack's (the engine's
    DefaultRootStackURN), as the CLI shows it: ``(pulumi:pulumi:Stack: <project>-<stack>)``."""
    found = {d.message.split("\n", 1)[1]: d.urn for d in result.diagnostics if d.policy == "report-with-urn"}
    assert found == {"names flag-b": urn("aws:sns/topic:Topic", "flag-b"),
                     "names a resource that is not in the stack": ROOT, "names no resource": ROOT}


def test_validate_resource_violation_with_custom_urn_is_the_analyzed_resources(result):
    """pulumi-policy TestValidateResource, a resource policy reporting another resource's URN: the engine
    attributes a resource policy's violation to the resource it analyzed (``OnPolicyViolation(r.URN, d)``)."""
    (d,) = [d for d in result.diagnostics if d.policy == "custom-urn-from-resource"]
    assert d.urn == urn("aws:sns/topic:Topic", "flag-a")


def test_violation_lines_as_the_cli_lists_them(result):
    """pulumi-policy integration_test.go's expected output: ``[advisory]  <policy>  (<type>: <name>)``, then the
    policy's description and the message, each on its own line under it."""
    text = render_text(result)
    lines = text.splitlines()
    head = "        - [advisory]  report-with-urn  (aws:sns/topic:Topic: flag-b)"
    assert head in lines
    at = lines.index(head)
    assert lines[at + 1:at + 3] == ["          Probe report-with-urn.", "          names flag-b"]
    assert f"        - [advisory]  report-with-urn  (pulumi:pulumi:Stack: {PROJECT}-{STACK})" in lines
    assert "engine-probe@v0.0.1  report-with-urn" not in text  # the pack is named once, not on every line


def test_unknown_values(result):
    """pulumi-policy TestUnknownValues: reading a value unknown in preview gives the SDK's advisory "can't run
    policy ... during preview", for a resource policy on the resource analyzed (its inputs), for a stack policy
    on the Stack (the resource's outputs keep the unknown input unknown, as the engine records them)."""
    found = {d.policy: d for d in result.diagnostics if d.policy in ("unknown-values", "unknown-values-stack")}
    assert {p: (d.level, d.urn) for p, d in found.items()} == {
        "unknown-values": ("advisory", urn("aws:sns/topic:Topic", "unknown-input")),
        "unknown-values-stack": ("advisory", ROOT)}
    for policy, d in found.items():
        assert d.message == (f"can't run policy '{policy}' from policy pack 'engine-probe@v0.0.1' during preview: "
                             "string value at .displayName can't be known during preview")


def test_remote_component(result):
    """pulumi-policy TestRemoteComponent (what can run offline): a remote component's outputs are unknown in
    preview, as its provider's Construct leaves them, instead of its inputs echoed back."""
    assert result.run.outputs["remoteVpcId"] == result.run.outputs["remoteGreeting"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    (remote,) = [r for r in result.run.records if r.name == "remote"]
    assert remote.remote and remote.inputs == {"greeting": "hello"} and not remote.outputs_struct.fields


def test_config_reports_every_error_of_every_policy(run):
    """pulumi-policy TestConfig scenario 15 (multiple validation errors): every error of every policy, one line
    each, in the engine's words: ``validating policy config: <pack> <version>  <policy>: <error>``."""
    bad = {"foo": "this is too long", "bar": 3.14}
    with pytest.raises(PackError) as err:
        run(config={"configured-resource": bad, "configured-stack": bad})
    lines = f"error: {err.value}".splitlines()
    assert lines == [f"error: validating policy config: engine-probe 0.0.1  {p}: {e}"
                     for p in ("configured-resource", "configured-stack")
                     for e in ("bar: Invalid type. Expected: integer, given: number",
                               "foo: String length must be less than or equal to 3")]


def test_enforcement_level_all_disabled_is_not_all_passed(run):
    """pulumi-policy TestEnforcementLevel scenarios 6/8/10/14 (policy disabled: no violation): with every policy
    disabled nothing ran, and the preview says so instead of "all policies passed"."""
    result = run(config={"all": "disabled"})
    assert result.diagnostics == []
    text = render_text(result)
    assert "all policies passed" not in text and "every policy is disabled" in text


def test_data_source_result_is_shaped_as_ec2_answers(result):
    """A real program's ``aws.ec2.get_ami(most_recent=True, owners=[...], filters=[...])``: an AMI id of EC2's
    form, a name that matches the name filter."""
    (web,) = [r for r in result.run.records if r.name == "web"]
    assert re.fullmatch(r"ami-[0-9a-f]{17}", web.inputs["ami"])
    assert re.fullmatch(r"al2023-ami-2023\..*-x86_64", result.run.outputs["amiName"])


def test_plain_invoke_with_unknown_argument_says_where(run):
    """A plain invoke given a value unknown in preview fails, as under the SDK, but saying which invoke, which
    argument and which program line, and what to call instead."""
    with pytest.raises(ProgramError) as err:
        run(program=PROGRAMS / "invoke_unknown_argument")
    message = str(err.value)
    assert "aws:iam/getRole:getRole" in message and "name unknown" in message
    assert "__main__.py:5" in message and "get_role_output(" in message


@pytest.mark.parametrize("schema,required,settings,error", [
    ({"foo": {"type": "string"}}, ["foo"], {}, "foo is required"),                                   # scenario 6
    ({"foo": {"type": "string"}}, [], {"foo": 1}, "foo: Invalid type. Expected: string, given: integer"),  # 12
    ({"foo": {"type": "string", "minLength": 50}}, [], {"foo": "x"},
     "foo: String length must be greater than or equal to 50"),                                        # 9
    ({"foo": {"enum": ["bar", "baz"]}}, [], {"foo": "blah"}, 'foo: foo must be one of the following: "bar", "baz"'),  # 13
    ({"foo": {"const": "bar"}}, [], {"foo": "blah"}, 'foo: foo does not match: "bar"'),              # 14
])
def test_config_errors_in_the_engines_words(schema, required, settings, error):
    """pulumi-policy TestConfig scenarios 6, 9, 12, 13, 14: each schema error as the engine words it."""
    info = PackInfo("config-policy", "0.0.1", [PolicyInfo("resource-validation", "", "advisory", "resource",
                                                          schema, required)], {})
    with pytest.raises(PackError) as err:
        reconcile_config(info, {"resource-validation": settings})
    assert str(err.value) == f"validating policy config: config-policy 0.0.1  resource-validation: {error}"


@pytest.mark.parametrize("policy,error", [
    ('ResourceValidationPolicy(name="all", description="d", validate=lambda a, r: None)',
     'Invalid policy name "all"; "all" is a reserved name'),
    ('ResourceValidationPolicy(name="p", description="d", validate=lambda a, r: None, '
     'config_schema=PolicyConfigSchema({"enforcementLevel": {"type": "string"}}))',
     "enforcementLevel cannot be explicitly specified in properties"),
    ('ResourceValidationPolicy(name="p", description="d", validate=lambda a, r: None, '
     'config_schema=PolicyConfigSchema({"foo": {"type": "string"}}, required=["enforcementLevel"]))',
     '"enforcementLevel" cannot be specified in required'),
])
def test_invalid_policy(tmp_path, policy, error):
    """pulumi-policy TestInvalidPolicy: a pack that declares an invalid policy fails with the SDK's own reason."""
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (tmp_path / "__main__.py").write_text(
        "from pulumi_policy import PolicyConfigSchema, PolicyPack, ResourceValidationPolicy\n"
        f"PolicyPack(name='invalid-policy', policies=[{policy}])\n")
    with pytest.raises(PackError, match=re.escape(error)):
        run_preview(PROGRAM, STACK, pack_dir=tmp_path)


def test_output_invoke_with_unknown_argument_is_unknown_in_preview(result):
    """The output form of a data source read with an argument unknown in preview (``resources=[topic.arn]``)
    answers unknown in preview, as the SDK answers it, instead of failing the run."""
    doc = as_json(result)
    (publish,) = [r for r in doc["resources"] if r["name"] == "publish"]
    assert publish["unknownInputs"] == ["policy"]


def test_stack_tags_from_the_command_line():
    """pulumi-policy TestStackTags through the CLI: ``--tag KEY=VALUE`` (repeatable) sets the stack's tags as
    ``pulumi stack tag set`` does; a tag without ``=`` is refused with exit 2 and one line."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "offline", "preview", "--program", str(PROGRAM), "--stack", STACK,
           "--policy-pack", str(PACK), "--json", "--tag", "team=payments", "--tag", "tier=gold"]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    (observed,) = [p for p in doc["policies"] if p["policy"] == "observe-stack"]
    tags = json.loads(observed["message"].split("\n", 1)[1])["stack_tags"]
    assert tags["team"] == "payments" and tags["tier"] == "gold" and tags["pulumi:project"] == PROJECT
    bad = subprocess.run(cmd[:-4] + ["--tag", "no-equals-sign"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr and "Traceback" not in bad.stderr


def test_config_errors_are_one_line_each_on_the_command_line(tmp_path):
    """pulumi-policy TestConfig scenario 15 through the CLI: each error on its own ``error:`` line (exit 2), so a
    user who knows `pulumi preview` reads them at once and no line carries two errors."""
    import subprocess
    import sys

    bad = {"foo": "this is too long", "bar": 3.14}
    cfg = tmp_path / "policy-config.json"
    cfg.write_text(json.dumps({"configured-resource": bad, "configured-stack": bad}))
    proc = subprocess.run([sys.executable, "-m", "offline", "preview", "--program", str(PROGRAM), "--stack", STACK,
                           "--policy-pack", str(PACK), "--policy-pack-config", str(cfg)],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 4, proc.stderr
    assert all(line.count("validating policy config:") == 1 for line in errors), errors
