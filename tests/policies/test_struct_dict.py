"""The pack's ``AnalyzeStack`` (issue 11's prod overhead): its Struct conversion (``struct_dict``) gives what
``json_format.MessageToDict`` gives, value for value and key for key, and the stack index's plain props made from
the props before proxying are those ``plain`` reads through the SDK's unknown-checking proxies."""
from __future__ import annotations

import json
import math

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from offline.policy_driver import InProcessAnalyzer
from offline.preview import _root_record, run_preview
from policies.xray_rules import PACK_NAME, build_policies, call_scope
from policies.xray_rules.struct_dict import struct_to_dict
from policies.xray_rules.values import plain
from tests.policies.conftest import PACK, PROGRAMS, REPO

#: Stacks whose requests carry every shape the program side makes: archives and assets, unknowns at preview,
#: secrets, resource references, computed outputs, stack outputs and config.
STACKS = [(REPO, "prod"), (PROGRAMS / "engine_fidelity", "test"), (PROGRAMS / "computed_outputs", "test"),
          (PROGRAMS / "resource_as_input", "test"), (PROGRAMS / "outputs_and_config", "test"),
          (PROGRAMS / "unknown_names", "test")]


def _analyze_stack_request(program, stack) -> analyzer_pb2.AnalyzeStackRequest:
    analyzer = InProcessAnalyzer(PACK_NAME, build_policies(), version="0.1.0")
    result = run_preview(program, stack, pack_dir=PACK, analyzer_factory=lambda *_a, **_k: analyzer)
    sent: list[bytes] = []
    with pytest.MonkeyPatch.context() as patch, pytest.raises(AttributeError):  # the stand-in answers None
        patch.setattr(analyzer, "_call_analyze_stack", sent.append)  # the request, as it would go out
        analyzer.analyze_stack([_root_record(result.run, result.root_urn), *result.run.records], result.root_urn)
    return analyzer_pb2.AnalyzeStackRequest.FromString(sent[0])


@pytest.fixture(scope="module")
def requests() -> list[analyzer_pb2.AnalyzeStackRequest]:
    return [_analyze_stack_request(program, stack) for program, stack in STACKS]


def _same(got, expected) -> None:
    assert got == expected
    assert json.dumps(got) == json.dumps(expected)  # the same keys in the same order, at every level


def test_issue11_struct_to_dict_is_message_to_dict_on_every_resource_of_real_stacks(requests):
    structs = [s for request in requests for r in request.resources for s in (r.properties, r.provider.properties)]
    assert len(structs) > 500
    for struct in structs:
        _same(struct_to_dict(struct), json_format.MessageToDict(struct))


def _struct(**values) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


@pytest.mark.parametrize("struct", [
    struct_pb2.Struct(),
    _struct(a=None, b=True, c=False, d=0, e=-0.0, f=1.0, g=1e308, h=-2.5e-308, i="", j="ünï\u2603"),
    _struct(nested={"list": [[1, [2, {"x": None}]], [], {}], "empty": {}}, z=[None, True, "s", 3.5]),
], ids=["empty", "scalars", "nested"])
def test_issue11_struct_to_dict_is_message_to_dict_on_every_value_kind(struct):
    _same(struct_to_dict(struct), json_format.MessageToDict(struct))


def test_issue11_struct_to_dict_of_a_value_with_no_kind_is_none_as_message_to_dict():
    struct = struct_pb2.Struct()
    struct.fields["unset"].Clear()  # an entry whose Value has no kind set
    struct.fields["list"].list_value.values.add()
    _same(struct_to_dict(struct), json_format.MessageToDict(struct))
    assert struct_to_dict(struct) == {"unset": None, "list": [None]}


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_issue11_struct_to_dict_refuses_a_non_finite_number_as_message_to_dict_does(number):
    struct = _struct(ok=1, deep={"list": [number]})
    with pytest.raises(Exception) as sdk:
        json_format.MessageToDict(struct)
    with pytest.raises(type(sdk.value), match=str(sdk.value)):
        struct_to_dict(struct)


def test_issue11_the_stack_index_reads_the_props_plain_reads_through_the_proxies(requests):
    """``_Call.plain_props`` (made from the props before proxying) equals ``plain`` of the proxied props the SDK
    hands to policies, for every resource of the stacks, unknowns, secrets and assets included."""
    servicer = InProcessAnalyzer(PACK_NAME, build_policies(), version="0.1.0").servicer
    unknowns = 0
    for request in requests:
        call = call_scope._Call()
        resources = call_scope._stack_resources(servicer, request, call.unproxied)
        assert len(call.unproxied) == len(resources)
        for resource in resources:
            made = call.plain_props(resource)
            assert made == plain(resource.props)
            assert made is not call.unproxied[id(resource)][1]  # a copy: nodes cannot change what was built
            unknowns += repr(made).count("<unknown>")
    assert unknowns > 10  # the stacks do have unknowns at preview, where the proxies raise
