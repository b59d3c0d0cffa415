"""Pulumi mock runtime that behaves like the engine and the AWS provider where policies can tell.

Pulumi's own ``MockMonitor`` records nothing a policy needs (no parent, dependencies or property
dependencies) and builds URNs the engine would not. ``RecordingMonitor`` keeps all of that, with
engine-faithful URNs; ``ProviderMocks`` computes what a provider would: auto-names at check time
(known in preview), and ids, ARNs and URLs at create time (unknown in preview, known in ``update``
mode).
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import keyword
import re
import sys
import threading
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pm
from pulumi.runtime import rpc

from offline import event_loops

#: The engine's sentinel for a string value that is unknown during preview.
UNKNOWN = rpc.UNKNOWN

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


@dataclass
class ResourceRecord:
    """One registered resource, as the engine would hand it to a policy pack."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs_struct: Any = field(repr=False)  # wire Struct sent to Analyze
    outputs_struct: Any = field(repr=False, default=None)  # wire Struct sent to AnalyzeStack
    protect: bool = False
    provider: str = ""  # the provider reference the program sent ("<urn>::<id>"), empty for a default provider
    id: str = ""  # the provider id (known after create; empty in preview)
    # The resource options the engine hands a policy (AnalyzerResourceOptions) besides parent and protect.
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: Optional[bool] = None  # None: not set (the engine's deleteBeforeReplaceDefined)
    additional_secret_outputs: list[str] = field(default_factory=list)
    custom_timeouts: Optional[tuple[float, float, float]] = None  # create, update, delete in seconds
    #: The provider resource the engine resolves for this one: the explicit provider's record, or the default
    #: provider the engine registers for the package (``default_provider``); None for providers and components.
    provider_resource: Optional[ResourceRecord] = field(default=None, repr=False, compare=False)
    default_provider: bool = False  # this record is a default provider the engine registered itself
    remote: bool = False  # a remote (multi-language) component, constructed by its provider
    #: Wire messages built once per record by the policy driver (options, provider), shared by Analyze and
    #: AnalyzeStack.
    wire_cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Where the program registered it: the SDK sends the first user frame with every registration (sourcePosition).
    source_uri: str = ""
    source_line: int = 0

    @functools.cached_property
    def inputs(self) -> dict[str, Any]:
        """The inputs as the program sent them, unknowns kept (``inputs_struct``), deserialized when first read: the
        pack gets the Struct, and deserializing every record's as it registers took about 0.8 s of the program's
        thread per 10,000 resources (and 18 MB)."""
        return rpc.deserialize_properties(self.inputs_struct, keep_unknowns=True)

    @functools.cached_property
    def outputs(self) -> dict[str, Any]:
        """The outputs as the engine records them (``outputs_struct``), deserialized when first read: the pack
        gets the Struct, only the e2e runner and tests read these, and deserializing all of them costs about
        0.6 s of CPU per 10,000 resources."""
        if self.outputs_struct is None:
            return {}
        return rpc.deserialize_properties(self.outputs_struct, keep_unknowns=True)


@functools.cache
def _resource_class(type_token: str) -> Optional[type]:
    """The Python class generated for ``type_token`` by a provider SDK, if one is imported."""
    try:
        pkg, mod, _ = type_token.split(":", 2)
    except ValueError:
        return None
    for module in rpc._RESOURCE_MODULES.get(f"{pkg}:{mod}", []):  # the SDK's own registry
        info = getattr(module, "mod_info", None)
        if not info or type_token not in info.get("classes", {}):
            continue
        return getattr(importlib.import_module(info["fqn"]), info["classes"][type_token], None)
    return None


@functools.cache
def _output_types(cls: Optional[type]) -> dict[str, Any]:
    """Wire name -> declared Python type (``T`` of ``Output[T]``, or a plain annotation on an invoke
    result class) of every property the SDK class declares."""
    if cls is None:
        return {}
    types: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        for value in vars(base).values():
            if isinstance(value, property) and value.fget is not None:
                try:
                    ann = inspect.signature(value.fget).return_annotation
                except (TypeError, ValueError):
                    ann = Any
                args = typing.get_args(ann)
                if args and getattr(typing.get_origin(ann), "__name__", "") == "Output":
                    ann = args[0]
                types[getattr(value.fget, "_pulumi_name", value.fget.__name__)] = ann
    return types


def _output_names(cls: Optional[type]) -> frozenset[str]:
    return frozenset(_output_types(cls))


def _is_optional(ann: Any) -> bool:
    return typing.get_origin(ann) is typing.Union and type(None) in typing.get_args(ann)


_NO_VALUE = object()


def _placeholder(ann: Any, key: str, *, physical: str, arn: str, url: str) -> Any:
    """A plausible value of the declared type for a value a provider always computes; ``_NO_VALUE``
    for object types (left unset rather than guessed)."""
    origin = typing.get_origin(ann)
    lowered = key.lower()
    if ann is str:
        if lowered == "arn":
            return arn
        if lowered.endswith("arn"):
            return f"{arn}/{key}"
        if lowered.endswith(("url", "endpoint")):
            return url
        return f"{physical}-{key}"
    if ann is bool:
        return False
    if ann in (int, float):
        return 0
    if origin in (list, tuple) or (origin is not None and getattr(origin, "__name__", "") in ("Sequence", "List")):
        return []
    if origin is dict or (origin is not None and getattr(origin, "__name__", "") in ("Mapping", "Dict")):
        return {}
    return _NO_VALUE


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.cache
def _invoke_result_class(token: str) -> Optional[type]:
    """``GetXResult`` of the SDK function for an invoke token such as ``aws:ec2/getSubnets:getSubnets``."""
    try:
        pkg, mod, fn = token.split(":", 2)
    except ValueError:
        return None
    module = mod.split("/")[0]
    root = f"pulumi_{pkg.replace('-', '_')}"
    parts = [root] + ([] if module == "index" else [module + ("_" if keyword.iskeyword(module) else "")])
    try:
        mod_obj = importlib.import_module(".".join(parts + [_snake(fn)]))
    except Exception:  # noqa: BLE001 - not an SDK we know: no typed emulation
        return None
    return getattr(mod_obj, fn[:1].upper() + fn[1:] + "Result", None)


#: Resource types whose provider id is not an opaque string (``terraform import`` ids).
_ID_IS_NAME = {"aws:iam/role:Role", "aws:iam/user:User", "aws:iam/group:Group", "aws:lambda/function:Function",
               "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2", "aws:dynamodb/table:Table",
               "aws:cloudwatch/logGroup:LogGroup", "aws:cloudwatch/eventBus:EventBus",
               "aws:cloudwatch/eventRule:EventRule", "aws:cloudwatch/metricAlarm:MetricAlarm",
               "aws:cloudwatch/dashboard:Dashboard", "aws:ecr/repository:Repository",
               "aws:iam/instanceProfile:InstanceProfile"}
_ID_IS_ARN = {"aws:sns/topic:Topic", "aws:sfn/stateMachine:StateMachine", "aws:secretsmanager/secret:Secret",
              "aws:iam/policy:Policy", "aws:ecs/cluster:Cluster", "aws:kinesis/stream:Stream"}
#: Auto-named property when it is not ``name``.
_NAME_PROPERTY = {"aws:s3/bucket:Bucket": "bucket", "aws:s3/bucketV2:BucketV2": "bucket"}
STACK_REFERENCE = "pulumi:pulumi:StackReference"


def _stable_suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:7]


#: ARNs as AWS forms them, for the types whose shape programs and policies rely on (``{name}`` is the physical
#: name, ``{id}`` the provider id); other types get ``arn:aws:<service>:<region>:<account>:<kind>/<name>``.
_ARN_FORMATS = {
    "aws:sns/topic:Topic": "arn:aws:sns:{region}:{account}:{name}",
    "aws:sqs/queue:Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "aws:lambda/function:Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "aws:dynamodb/table:Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "aws:iam/role:Role": "arn:aws:iam::{account}:role/{name}",
    "aws:iam/policy:Policy": "arn:aws:iam::{account}:policy/{name}",
    "aws:iam/user:User": "arn:aws:iam::{account}:user/{name}",
    "aws:secretsmanager/secret:Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix6}",
    "aws:ssm/parameter:Parameter": "arn:aws:ssm:{region}:{account}:parameter/{name_noslash}",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
    "aws:cloudwatch/logGroup:LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}",
    "aws:cloudwatch/eventRule:EventRule": "arn:aws:events:{region}:{account}:rule/{name}",
    "aws:cloudwatch/dashboard:Dashboard": "arn:aws:cloudwatch::{account}:dashboard/{name}",
    "aws:cognito/userPool:UserPool": "arn:aws:cognito-idp:{region}:{account}:userpool/{id}",
    "aws:s3/bucket:Bucket": "arn:aws:s3:::{name}",
    "aws:s3/bucketV2:BucketV2": "arn:aws:s3:::{name}",
    "aws:kinesis/stream:Stream": "arn:aws:kinesis:{region}:{account}:stream/{name}",
    "aws:sfn/stateMachine:StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "aws:ecr/repository:Repository": "arn:aws:ecr:{region}:{account}:repository/{name}",
}
#: Provider ids that are not the name or the ARN and that programs pass on (a user pool's id goes into URLs).
_ID_FORMATS = {"aws:cognito/userPool:UserPool": "{region}_{suffix9}"}


def _aws_arn(typ: str, *, service: str, region: str, account: str, physical: str, provider_id: str) -> str:
    kind = typ.rsplit(":", 1)[-1].lower()
    fmt = _ARN_FORMATS.get(typ, f"arn:aws:{service}:{region}:{account}:{kind}/{{name}}")
    return fmt.format(region=region, account=account, name=physical, name_noslash=physical.lstrip("/"),
                      id=provider_id, suffix6=_stable_suffix(typ, physical)[:6])


def _computed_outputs(typ: str, outputs: dict, *, arn: str, region: str, account: str, provider_id: str) -> None:
    """The few computed outputs whose form other resources depend on, as AWS forms them."""
    if typ == "aws:lambda/function:Function":
        outputs["invokeArn"] = f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
        outputs["qualifiedArn"] = f"{arn}:$LATEST"
    elif typ == "aws:apigateway/restApi:RestApi":
        outputs["executionArn"] = f"arn:aws:execute-api:{region}:{account}:{provider_id}"
        outputs["rootResourceId"] = f"{provider_id}-root"
    elif typ == "aws:cognito/userPool:UserPool":
        outputs["endpoint"] = f"cognito-idp.{region}.amazonaws.com/{provider_id}"


class InvokeArgumentUnknown(ValueError):
    """A plain invoke (``aws.iam.get_role(name=bucket.id)``) got an argument that is unknown in preview."""

    def __init__(self, token: str, paths: list[str], where: str = ""):
        self.token, self.paths, self.where = token, paths, where
        fn = _snake(token.rsplit(":", 1)[-1])
        at = f" at {where}" if where else ""
        super().__init__(
            f"{token} ({fn}){at} was called with {', '.join(paths)} unknown: in preview the value comes from a resource "
            f"not created yet, and a plain invoke needs known arguments; call {fn}_output(...) instead, which "
            f"waits for it (or pass a known value)")


def unknown_paths_in(struct: struct_pb2.Struct, whole: str = "(the arguments)") -> list[str]:
    """``unknown_paths`` of ``rpc.deserialize_properties(struct, keep_unknowns=True)``, read off the wire form
    (a tenth of the time: the JSON report asks it of every record that has an unknown input). As there, a secret
    is a ``{signature, value}`` object and what the SDK turns into an object (a resource reference, an output
    value, an asset or archive) has no paths inside."""
    def walk(value: struct_pb2.Value, prefix: str, out: list[str]) -> None:
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            if value.string_value == UNKNOWN:
                out.append(prefix or whole)
        elif kind == "struct_value":
            fields = value.struct_value.fields
            if rpc._special_sig_key in fields and fields[rpc._special_sig_key].string_value != rpc._special_secret_sig:
                return
            for k, v in fields.items():
                walk(v, f"{prefix}.{k}" if prefix else k, out)
        elif kind == "list_value":
            for i, v in enumerate(value.list_value.values):
                walk(v, f"{prefix}[{i}]", out)

    paths: list[str] = []
    for key, value in struct.fields.items():
        walk(value, key, paths)
    return paths


def unknown_paths(value: Any, prefix: str = "", whole: str = "(the arguments)") -> list[str]:
    """Paths (``statements[0].resources[0]``) of the values unknown in preview inside ``value`` (an invoke's
    arguments, a resource's inputs, the stack's outputs); ``whole`` names the path of ``value`` itself."""
    if value is UNKNOWN or (isinstance(value, str) and value == UNKNOWN) or type(value).__name__ == "Unknown":
        return [prefix or whole]
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out += unknown_paths(v, f"{prefix}.{k}" if prefix else str(k), whole)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            out += unknown_paths(v, f"{prefix}[{i}]", whole)
    return out


def _ami(inputs: dict, region: str, account: str) -> dict:
    """``aws.ec2.get_ami`` as EC2 answers it: an AMI id of its form (``ami-`` and 17 hex digits), a name that
    matches the ``name`` filter, the owner asked for, an EBS-backed HVM image with its root volume."""
    filters = {f.get("name"): list(f.get("values") or []) for f in inputs.get("filters") or [] if isinstance(f, dict)}
    key = json.dumps([inputs.get("owners"), filters, inputs.get("nameRegex")], sort_keys=True)
    image_id = f"ami-{hashlib.sha256(key.encode()).hexdigest()[:17]}"
    pattern = (filters.get("name") or ["offline-image-*"])[0]
    name = pattern.replace("*", "2026.1.20260101.0").replace("?", "0")
    owners = [str(o) for o in inputs.get("owners") or []]
    owner_id = next((o for o in owners if o.isdigit()), "137112412989")  # Amazon's own AMI account
    arch = (filters.get("architecture") or ["arm64" if "arm64" in pattern else "x86_64"])[0]
    snapshot = f"snap-{hashlib.sha256((key + 'snap').encode()).hexdigest()[:17]}"
    return {
        "id": image_id, "imageId": image_id, "name": name, "ownerId": owner_id, "architecture": arch,
        "arn": f"arn:aws:ec2:{region}::image/{image_id}",
        "imageOwnerAlias": "amazon" if "amazon" in owners or not owners else "",
        "imageLocation": f"{'amazon' if 'amazon' in owners else owner_id}/{name}",
        "creationDate": "2026-01-01T00:00:00.000Z", "deprecationTime": "2028-01-01T00:00:00.000Z",
        "description": name, "state": "available", "imageType": "machine", "public": True,
        "rootDeviceName": "/dev/xvda", "rootDeviceType": "ebs", "rootSnapshotId": snapshot,
        "virtualizationType": (filters.get("virtualization-type") or ["hvm"])[0], "hypervisor": "xen",
        "enaSupport": True, "sriovNetSupport": "simple", "bootMode": "uefi-preferred", "imdsSupport": "v2.0",
        "platformDetails": "Linux/UNIX", "usageOperation": "RunInstances", "region": region,
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "noDevice": "", "virtualName": "", "ebs": {
            "delete_on_termination": "true", "encrypted": "false", "iops": "3000", "snapshot_id": snapshot,
            "throughput": "125", "volume_size": "8", "volume_type": "gp3"}}],
    }


#: Data sources whose answers programs read closely, shaped as AWS answers them (others: ``_lookup``).
_DATA_SOURCE_SHAPES: dict[str, typing.Callable[[dict, str, str], dict]] = {"aws:ec2/getAmi:getAmi": _ami}


class ProviderMocks(pm.Mocks):
    """Emulates what the AWS provider computes, so ordinary programs run unchanged.

    ``preview=True`` (the default) mirrors ``pulumi preview`` of a new stack: inputs known,
    auto-names known, create-time values (id, ARN, URL) unknown. ``preview=False`` mirrors the
    state after ``pulumi up``: those values are filled with plausible fakes.
    """

    def __init__(self, *, preview: bool = True, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT):
        self.preview = preview
        self.region = region
        self.account = account
        self._lock = threading.Lock()
        self.invokes: list[tuple[str, dict]] = []
        self._stack_refs: set[str] = set()

    # -- resources ---------------------------------------------------------------------------
    def new_resource(self, args: pm.MockResourceArgs):
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args)
        outputs = dict(args.inputs)
        types = _output_types(_resource_class(args.typ))
        name_key = _NAME_PROPERTY.get(args.typ, "name")
        if args.resource_id and name_key in types and not outputs.get(name_key) and "/" not in args.resource_id \
                and not args.resource_id.startswith("arn:"):
            outputs[name_key] = args.resource_id  # ``Resource.get(name, id)``: ids of named resources are names
        if name_key in types and not outputs.get(name_key):
            # Auto-naming happens at check time: known in preview.
            prefix = outputs.get(f"{name_key}Prefix")
            generated = f"{prefix}{_stable_suffix(args.typ, args.name)}" if prefix else (
                f"{args.name}-{_stable_suffix(args.typ, args.name)}")
            if name_key == "bucket":
                generated = generated.lower()
            if outputs.get("fifoQueue") and not generated.endswith(".fifo"):
                generated += ".fifo"
            outputs[name_key] = generated
        if args.typ.startswith("aws:") and "region" in types and not outputs.get("region"):
            outputs["region"] = self.region
        physical = outputs.get(name_key) or args.name
        if self.preview and not args.resource_id:
            return "", outputs  # ids and other create-time values stay unknown
        service = args.typ.split(":")[1].split("/")[0]
        region = "" if service in ("iam", "budgets", "cloudfront") else self.region  # global services
        provider_id = args.resource_id or _ID_FORMATS.get(args.typ, "{name}-id").format(
            region=self.region, name=physical, suffix9=_stable_suffix(args.typ, physical, "id")[:9].upper())
        arn = _aws_arn(args.typ, service=service, region=region, account=self.account, physical=physical,
                       provider_id=provider_id)
        url = f"https://{physical}.{service}.{self.region}.example.test"
        if args.typ == "aws:lambda/functionUrl:FunctionUrl":
            url += "/"  # the only AWS URL output that ends with a slash
        elif args.typ == "aws:sqs/queue:Queue":
            url = f"https://sqs.{self.region}.amazonaws.com/{self.account}/{physical}"
        for out, ann in types.items():
            if out in outputs:
                continue
            lowered = out.lower()
            if lowered.endswith("arn") or lowered.endswith(("url", "endpoint")):
                outputs[out] = _placeholder(str, out, physical=physical, arn=arn, url=url)
            elif out == "tagsAll":
                outputs[out] = dict(outputs.get("tags") or {})
            elif not _is_optional(ann):
                # After create the provider has set every value its schema declares as always present.
                value = _placeholder(ann, out, physical=physical, arn=arn, url=url)
                if value is not _NO_VALUE:
                    outputs[out] = value
        _computed_outputs(args.typ, outputs, arn=arn, region=self.region, account=self.account,
                          provider_id=provider_id)
        if args.typ == "aws:acm/certificate:Certificate" and outputs.get("validationMethod") == "DNS":
            outputs["domainValidationOptions"] = [
                {"domainName": d, "resourceRecordName": f"_{_stable_suffix(d)}.{d}.", "resourceRecordType": "CNAME",
                 "resourceRecordValue": f"_{_stable_suffix(d, 'v')}.acm-validations.aws."}
                for d in [outputs.get("domainName")] + list(outputs.get("subjectAlternativeNames") or []) if d]
        if args.resource_id:
            return args.resource_id, outputs
        if args.typ in _ID_IS_NAME:
            return physical, outputs
        if args.typ in _ID_IS_ARN:
            return outputs.get("arn") or arn, outputs
        if args.typ == "aws:sqs/queue:Queue":
            return url, outputs
        return provider_id, outputs

    def _stack_reference(self, args: pm.MockResourceArgs):
        """Another stack's outputs live in a backend, which an offline run has none of: the reference is
        emulated as one whose outputs are unknown in preview (apply callbacks on them do not run) and
        empty after ``--update`` (``get_output`` gives None; ``require_output`` fails naming the output)."""
        name = args.inputs.get("name") or args.resource_id or args.name
        with self._lock:
            first = name not in self._stack_refs
            self._stack_refs.add(name)
        if first:
            print(f"warning: StackReference {name!r}: other stacks' outputs are not available offline; they are "
                  f"{'unknown' if self.preview else 'empty'} in this run", file=sys.stderr, flush=True)
        outputs: dict[str, Any] = {"name": name}
        if not self.preview:
            outputs.update(outputs={}, secretOutputNames=[])
        return args.resource_id or name, outputs

    @property
    def stack_references(self) -> set[str]:
        """Names of the other stacks the program referenced (emulated, see ``_stack_reference``)."""
        with self._lock:
            return set(self._stack_refs)

    # -- invokes -----------------------------------------------------------------------------
    def call(self, args: pm.MockCallArgs):
        with self._lock:
            self.invokes.append((args.token, dict(args.args)))
        token = args.token
        if unknown_paths(args.args):
            # The SDK answers an invoke whose arguments are unknown with an unknown result, but its check misses
            # unknowns inside lists of plain values (``statements[0].resources[0]``), which reach the provider:
            # in preview a data source read with unknown arguments gives unknown results. (A plain invoke never
            # gets here: ``offline.program`` refuses it, saying where.)
            return {key: UNKNOWN for key in _output_types(_invoke_result_class(token))}
        if token in _DATA_SOURCE_SHAPES:
            result = self._lookup(token, dict(args.args))
            result.update(_DATA_SOURCE_SHAPES[token](dict(args.args), self.region, self.account))
            return result
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region,
                    "description": self.region, "endpoint": f"ec2.{self.region}.amazonaws.com"}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account, "id": self.account, "userId": "AIDAOFFLINE",
                    "arn": f"arn:aws:iam::{self.account}:user/offline"}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws",
                    "reverseDnsPrefix": "com.amazonaws"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 4)], "id": self.region}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": _render_policy_document(args.args), "id": "policy"}
        return self._lookup(token, dict(args.args))

    def _lookup(self, token: str, inputs: dict) -> dict:
        """Any other data source (``get_vpc``, ``get_subnets``, ``get_role``, ``get_zone`` ...): it reads
        infrastructure that exists already, which offline is a plausible stand-in: the arguments echoed
        back, and every value the result type declares as always present filled by its type."""
        types = _output_types(_invoke_result_class(token))
        result = {k: v for k, v in inputs.items() if k in types}
        if not types:
            return result
        try:
            service = token.split(":")[1].split("/", maxsplit=1)[0]
            kind = _snake(token.rsplit(":", 1)[-1]).removeprefix("get_").replace("_", "-")
        except IndexError:
            service, kind = "index", "resource"
        physical = str(inputs.get("name") or inputs.get("id") or f"{kind}-offline")
        region = "" if service in ("iam", "budgets", "cloudfront") else self.region
        arn = f"arn:aws:{service}:{region}:{self.account}:{kind}/{physical}"
        url = f"https://{physical}.{service}.{self.region}.example.test"
        for key, ann in types.items():
            if key in result or _is_optional(ann):
                continue
            if key == "id":
                result[key] = physical
            elif key == "region" and service != "index":
                result[key] = self.region
            elif key in ("ids", "names", "arns") and typing.get_args(ann) == (str,):
                result[key] = [f"{physical}-{i}" for i in "ab"]
            else:
                value = _placeholder(ann, key, physical=physical, arn=arn, url=url)
                if value is not _NO_VALUE:
                    result[key] = value
        return result


def _render_policy_document(doc: dict) -> str:
    """``aws.iam.get_policy_document`` as the provider renders it (enough for policies to read)."""
    statements = []
    for st in doc.get("statements") or []:
        out: dict[str, Any] = {"Effect": st.get("effect", "Allow")}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        for key, wire in (("actions", "Action"), ("notActions", "NotAction"),
                          ("resources", "Resource"), ("notResources", "NotResource")):
            if st.get(key):
                vals = list(st[key])
                out[wire] = vals[0] if len(vals) == 1 else vals
        for key, wire in (("principals", "Principal"),):
            if st.get(key):
                out[wire] = {p["type"]: (p["identifiers"][0] if len(p["identifiers"]) == 1 else p["identifiers"])
                             for p in st[key]}
        if st.get("conditions"):
            cond: dict[str, dict] = {}
            for c in st["conditions"]:
                cond.setdefault(c["test"], {})[c["variable"]] = c["values"]
            out["Condition"] = cond
        statements.append(out)
    return json.dumps({"Version": doc.get("version", "2012-10-17"), "Statement": statements})


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)")


def go_duration_seconds(text: str) -> float:
    """A custom timeout as the engine reads it (Go's ``time.ParseDuration``: "1m30s", "2h", "90s") in seconds;
    0 for an empty string. Raises ValueError for anything else, as the engine refuses it."""
    text = text.strip()
    if not text or text == "0":
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"invalid duration {text!r}: use a number with a unit (ns, us, ms, s, m, h), e.g. '5m'")
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _default_provider_name(version: str) -> str:
    """The engine's name for the default provider of a package version: ``default_7_51_1`` (``default``
    when the SDK sends no version)."""
    return f"default_{re.sub(r'[^0-9A-Za-z]', '_', version)}" if version else "default"


def _with_unknown_inputs(outputs: Any, inputs: Any) -> Any:
    """The outputs as the engine records them in preview: an input that was unknown stays an unknown output
    (the SDK's mock monitor drops it, as it deserializes the inputs without unknowns)."""
    missing = [k for k, v in inputs.fields.items() if k not in outputs.fields and v.WhichOneof("kind") == "string_value"
               and v.string_value == UNKNOWN]
    if not missing:
        return outputs
    merged = struct_pb2.Struct()
    merged.CopyFrom(outputs)
    for key in missing:
        merged[key] = UNKNOWN
    return merged


class RecordingMonitor(pm.MockMonitor):
    """A mock monitor that records each registration the way the engine sees it."""

    def __init__(self, mocks: pm.Mocks, config: Optional[dict[str, str]] = None):
        super().__init__(mocks)
        self.records: list[ResourceRecord] = []
        #: The default providers the engine would register, in registration order (package@version -> record):
        #: not in ``records`` (the program did not declare them), but in what the engine sends to the pack.
        self.default_providers: dict[str, ResourceRecord] = {}
        self._by_urn: dict[str, ResourceRecord] = {}
        self._config = dict(config or {})
        self._lock = threading.Lock()

    # A Resource passed as an input (``role=role_resource`` where an ARN is expected, as public programs do)
    # is sent as a resource reference when the monitor supports them; the SDK's mock monitor then rebuilds
    # the resource on its executor thread's event loop, which fails ("attached to a different loop") or
    # hangs. The engine hands a provider that takes no references the resource's id (a component's URN):
    # turning the feature off makes the SDK send exactly that.
    def SupportsFeature(self, request):
        resp = super().SupportsFeature(request)
        if request.id == "resourceReferences":
            return type("SupportsFeatureResponse", (object,), {"hasSupport": False})
        return resp

    def GetDeploymentInfo(self, request):
        from pulumi.runtime.proto import resource_pb2

        info = super().GetDeploymentInfo(request)
        kept = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=kept)

    # Invoke, ReadResource (``get``, StackReference) and RegisterResource are the calls on which the SDK's
    # mock monitor makes its executor thread a loop; each thread's loop is closed at the end of the process.
    def Invoke(self, request):
        resp = super().Invoke(request)
        event_loops.keep_this_threads_loop()
        return resp

    def ReadResource(self, request):
        resp = super().ReadResource(request)
        event_loops.keep_this_threads_loop()
        return resp

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine qualifies a child's type with the whole chain of its ancestors' types, but
        # never with the root Stack's (MockMonitor keeps only the immediate parent's).
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"

    def _default_provider(self, package: str, version: str) -> ResourceRecord:
        """The provider the engine registers for ``package`` at ``version`` when a resource names none: URN
        ``pulumi:providers:<pkg>::default_<version>``, no parent, its inputs the package's stack config
        (``aws:region`` -> ``region``) and ``version``. Called with the lock held."""
        key = f"{package}@{version}"
        found = self.default_providers.get(key)
        if found is not None:
            return found
        name = _default_provider_name(version)
        inputs: dict[str, Any] = {k.split(":", 1)[1]: v for k, v in self._config.items()
                                  if k.split(":", 1)[0] == package}
        if version:
            inputs["version"] = version
        struct = struct_pb2.Struct()
        struct.update(inputs)
        record = ResourceRecord(
            type=f"pulumi:providers:{package}", name=name, custom=True, parent="", dependencies=[],
            property_dependencies={}, inputs_struct=struct, outputs_struct=struct,
            urn=f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::pulumi:providers:{package}::{name}",
            default_provider=True)
        self.default_providers[key] = record
        return record

    def _register_remote_component(self, request):
        """A remote component in preview: its provider's ``Construct`` would run the component (children and
        all) and answer with outputs that are mostly unknown in preview. Offline there is no provider to
        construct it, so the answer carries no outputs: the SDK then resolves every output that is not an
        input as unknown, as it does for a real preview."""
        from pulumi.runtime.proto import resource_pb2

        urn = self.make_urn(request.parent, request.type, request.name)
        self.resources[urn] = pm.MockMonitor.ResourceRegistration(urn, "", {})
        return resource_pb2.RegisterResourceResponse(urn=urn, id="", object=struct_pb2.Struct())

    def RegisterResource(self, request):
        remote = bool(request.remote) and bool(getattr(self.mocks, "preview", False))
        resp = self._register_remote_component(request) if remote else super().RegisterResource(request)
        event_loops.keep_this_threads_loop()
        if request.type == "pulumi:pulumi:Stack":
            return resp
        inputs_struct = request.object
        is_provider = request.type.startswith("pulumi:providers:")
        if is_provider and request.version and "version" not in inputs_struct.fields:
            # The engine adds the plugin version the SDK asked for to a provider's inputs.
            inputs_struct = struct_pb2.Struct()
            inputs_struct.CopyFrom(request.object)
            inputs_struct["version"] = request.version
        timeouts = None
        if request.HasField("customTimeouts"):
            t = request.customTimeouts
            try:
                timeouts = (go_duration_seconds(t.create), go_duration_seconds(t.update), go_duration_seconds(t.delete))
            except ValueError as exc:
                raise ValueError(f"resource '{request.name}' ({request.type}): custom_timeouts: {exc}") from None
        record = ResourceRecord(
            type=request.type,
            name=request.name,
            urn=resp.urn,
            custom=bool(request.custom),
            parent=request.parent,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            inputs_struct=inputs_struct,
            outputs_struct=_with_unknown_inputs(resp.object, request.object),
            protect=bool(request.protect),
            provider=request.provider,
            id=resp.id,
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=bool(request.deleteBeforeReplace) if request.deleteBeforeReplaceDefined else None,
            additional_secret_outputs=list(request.additionalSecretOutputs),
            custom_timeouts=timeouts,
            remote=bool(request.remote),
            source_uri=request.sourcePosition.uri,
            source_line=request.sourcePosition.line,
        )
        package = request.type.split(":", 1)[0]
        with self._lock:
            if record.urn in self._by_urn:
                # The engine refuses duplicate URNs; the SDK's mocks silently accept them.
                raise ValueError(f"Duplicate resource URN '{record.urn}'; try giving it a unique name")
            if request.provider:
                record.provider_resource = self._by_urn.get(request.provider.rsplit("::", 1)[0])
            elif request.custom and not is_provider and package != "pulumi":  # builtins have no provider
                record.provider_resource = self._default_provider(package, request.version)
            self._by_urn[record.urn] = record
            self.records.append(record)
        return resp
