"""Shapes of ordinary public Pulumi programs the runner must handle (any ordinary Pulumi AWS program
runs), found by a sweep over pulumi/examples `aws-py-*` and reproduced by fixture programs
written for this suite: values the provider computes at create time used in string building, data
sources with no special emulation, ACM DNS validation, S3 ids, a `main:` subdirectory, `secure:` config,
StackReference, nested stack outputs with unknowns and secrets."""
from __future__ import annotations

import asyncio
import json

import pytest

from offline.mocks import UNKNOWN
from offline.program import ProgramError, run_program
from offline.render import render_text
from tests.policies.conftest import PROGRAMS, REPO, run_cli


def _no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")], proc.stderr


def test_update_mode_gives_computed_values_of_their_declared_type():
    """--update: every value the provider always computes is known and typed (a None endpoint made
    `Output.concat`/`url + "..."` crash); lookups return their declared lists; S3 ids are bucket names."""
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "computed_outputs"), "--update", "--json")
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc)
    doc = json.loads(proc.stdout)
    out = doc["outputs"]
    assert out["httpUrl"].startswith("https://") and out["httpUrl"].endswith("/" + out["httpUrl"].rsplit("/", 1)[-1])
    assert "//" not in out["httpUrl"].removeprefix("https://")
    assert out["restUrl"].startswith("https://") and out["restUrl"].endswith("/items")
    assert out["executeArn"].startswith("arn:aws:") and out["executeArn"].endswith("/*/*")
    assert out["subnetCount"] == 2
    assert out["bucketId"] == out["bucket"]
    assert doc["unknownOutputs"] == []
    record = next(r for r in doc["resources"] if r["name"] == "site-validation")
    assert record["unknownInputs"] == []


def test_preview_keeps_create_time_values_unknown_and_lookups_known(preview):
    result = preview("computed_outputs")
    assert result.exit_code == 0
    out = result.run.outputs
    assert out["httpUrl"] == out["restUrl"] == out["executeArn"] == out["bucketId"] == UNKNOWN
    assert out["subnetCount"] == 2 and out["bucket"].startswith("site-")  # auto-named at check: known
    record = next(r for r in result.run.records if r.name == "site-validation")
    group = next(r for r in result.run.records if r.name == "web")
    assert group.inputs["vpcId"] and "," in group.inputs["description"]
    assert isinstance(record.inputs["zoneId"], str) and record.inputs["zoneId"] != UNKNOWN  # invokes run in preview
    assert type(record.inputs["name"]).__name__ == "Unknown"  # from the certificate, created at update


def test_main_subdirectory_secure_config_stack_reference_and_nested_outputs():
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "outputs_and_config"), "--json")
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc)
    warnings = [ln for ln in proc.stderr.splitlines() if "StackReference" in ln]
    assert len(warnings) == 1 and "'acme/network/test'" in warnings[0] and "unknown" in warnings[0]
    doc = json.loads(proc.stdout)
    out = doc["outputs"]
    # Nested exports keep their known parts; only the unknown leaves are the unknown sentinel.
    assert out["queues"]["beta"] == {"name": "orders-beta", "url": UNKNOWN, "limits": [5, UNKNOWN]}
    assert out["credentials"] == {"token": "[secret]", "secretArn": UNKNOWN}
    assert out["network"] == UNKNOWN
    assert out["firstQueue"] == {"urn": "urn:pulumi:test::outputs-and-config::aws:sqs/queue:Queue::beta",
                                 "id": UNKNOWN}
    assert set(doc["unknownOutputs"]) == {"queues.beta.url", "queues.beta.limits[1]", "queues.live.url",
                                          "queues.live.limits[1]", "credentials.secretArn", "network",
                                          "firstQueue.id"}
    edge = next(r for r in doc["resources"] if r["name"] == "edge")
    assert edge["unknownInputs"] == ["vpcId"]
    assert "offline-secret-placeholder" not in proc.stdout


def test_outputs_section_in_the_preview_text(preview):
    text = render_text(preview("outputs_and_config", update=True))
    section = text[text.index("Outputs:"):text.index("Resources:")]
    assert '"token": "[secret]"' in section and "orders-beta" in section
    assert "network: null" in section  # another stack's outputs are empty after --update
    assert "offline-secret-placeholder" not in text


def test_require_output_of_a_stack_reference_under_update_says_why(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: stackref\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi, pulumi_aws as aws\n"
        "ref = pulumi.StackReference('acme/network/test')\n"
        "aws.ec2.SecurityGroup('edge', vpc_id=ref.require_output('vpcId'))\n")
    assert run_program(tmp_path, "test", preview=True).records  # unknown in preview: runs
    with pytest.raises(ProgramError, match=r"KeyError: 'vpcId' \(stack references \['acme/network/test'\]"):
        run_program(tmp_path, "test", preview=False)


def test_resource_passed_as_an_input_runs_and_reaches_the_policies():
    proc = run_cli("preview", "--stack", "test", "--program", str(PROGRAMS / "resource_as_input"), "--update",
                   "--json", timeout=60)
    assert proc.returncode == 1, proc.stderr  # the lone function lacks alarms and X-Ray permissions
    _no_traceback(proc)
    doc = json.loads(proc.stdout)
    flagged = {(p["policy"], p["urn"].rsplit("::", 1)[-1]) for p in doc["policies"] if p["level"] == "mandatory"}
    assert ("xray-write-permissions", "worker") in flagged
    perm = next(p for p in doc["policies"] if p["policy"] == "xray-write-permissions")
    assert "its role 'executor" in perm["message"]  # the Role object was sent as its id and linked back
    assert doc["outputs"]["opsArn"].endswith(":role/ops-admin")  # Role.get(name, id): the id is the name
    assert {r["type"] for r in doc["resources"]} >= {"pulumi:providers:aws", "aws:lambda/function:Function"}


def test_program_with_its_own_event_loop_leaves_the_runs_loop_current():
    """A program that installs its own event loop at import: the run's futures belong to the loop the run
    started on, so the runner awaits the stack outputs (and the next run) on that loop again, not on the
    program's (there they resolve only while already done, else fail or hang)."""
    loop = asyncio.get_event_loop_policy().get_event_loop()
    result = run_program(PROGRAMS / "event_loop_at_import", "test")
    assert asyncio.get_event_loop_policy().get_event_loop() is loop
    assert result.outputs["function_name"].startswith("api-")


def _records_with_unknown_inputs():
    """The prod stack's records and those of the fixtures built around unknowns in preview."""
    yield from run_program(REPO, "prod", preview=True).records
    for program in ("computed_outputs", "unknown_names", "resource_as_input", "outputs_and_config"):
        yield from run_program(PROGRAMS / program, "test", preview=True).records


def test_unknown_inputs_read_off_the_wire_are_those_of_the_deserialized_inputs():
    """Issue 11 (the JSON report lists each record's ``unknownInputs`` from the wire form, a tenth of the time):
    the paths are exactly those of the SDK's deserialized inputs, for every record of every fixture program and
    for the shapes fixtures may lack: a secret unknown, a resource reference with an unknown id, an unknown output
    value, an asset, unknowns in nested lists."""
    from google.protobuf import struct_pb2
    from pulumi.runtime import rpc

    from offline.mocks import unknown_paths, unknown_paths_in

    sig = rpc._special_sig_key
    made = struct_pb2.Struct()
    made.update({
        "secret": {sig: rpc._special_secret_sig, "value": UNKNOWN},
        "ref": {sig: rpc._special_resource_sig, "urn": "urn:pulumi:s::p::aws:s3/bucket:Bucket::b", "id": UNKNOWN},
        "output": {sig: rpc._special_output_value_sig, "dependencies": []},
        "asset": {sig: rpc._special_asset_sig, "text": "x"},
        "nested": [[UNKNOWN, "known"], {"deep": [{"x": UNKNOWN}]}], "plain": "known", "whole": UNKNOWN,
    })
    structs = [made] + [r.inputs_struct for r in _records_with_unknown_inputs()]
    assert sum(bool(unknown_paths_in(s)) for s in structs) > 10  # the fixtures have unknown inputs to compare
    for struct in structs:
        assert unknown_paths_in(struct, whole=".") == unknown_paths(
            rpc.deserialize_properties(struct, keep_unknowns=True), whole="."), struct
    assert sorted(unknown_paths_in(made)) == ["nested[0][0]", "nested[1].deep[0].x", "secret.value", "whole"]
