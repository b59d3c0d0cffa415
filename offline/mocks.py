"""Pulumi mock runtime that behaves like the engine and the AWS provider where policies can tell.

Pulumi's own ``MockMonitor`` records nothing a policy needs (no parent, dependencies or property
dependencies) and builds URNs the engine would not. ``RecordingMonitor`` keeps all of that, with
engine-faithful URNs; ``ProviderMocks`` computes what a provider would: auto-names at check time
(known in preview), and ids, ARNs and URLs at create time (unknown in preview, known in ``update``
mode). See ../shared/notes/pulumi-policy-and-mocks.md §B1.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pm
from pulumi.runtime import rpc

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
    inputs: dict[str, Any]
    inputs_struct: Any = field(repr=False)  # wire Struct sent to Analyze
    outputs_struct: Any = field(repr=False, default=None)  # wire Struct sent to AnalyzeStack
    outputs: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    provider: str = ""


@functools.lru_cache(maxsize=None)
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
        import importlib

        return getattr(importlib.import_module(info["fqn"]), info["classes"][type_token], None)
    return None


@functools.lru_cache(maxsize=None)
def _output_names(cls: Optional[type]) -> frozenset[str]:
    if cls is None:
        return set()
    names = set()
    for base in cls.__mro__:
        for value in vars(base).values():
            if isinstance(value, property) and value.fget is not None:
                names.add(getattr(value.fget, "_pulumi_name", value.fget.__name__))
    return frozenset(names)


def _stable_suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:7]


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

    # -- resources ---------------------------------------------------------------------------
    def new_resource(self, args: pm.MockResourceArgs):
        outputs = dict(args.inputs)
        outputs_known = _output_names(_resource_class(args.typ))
        if "name" in outputs_known and not outputs.get("name"):
            prefix = outputs.get("namePrefix")
            outputs["name"] = f"{prefix}{_stable_suffix(args.typ, args.name)}" if prefix else (
                f"{args.name}-{_stable_suffix(args.typ, args.name)}")
        if args.typ.startswith("aws:") and "region" in outputs_known and not outputs.get("region"):
            outputs["region"] = self.region
        physical = outputs.get("name") or args.name
        if self.preview and not args.resource_id:
            return "", outputs  # ids and other create-time values stay unknown
        service = args.typ.split(":")[1].split("/")[0]
        kind = args.typ.rsplit(":", 1)[-1].lower()
        region = "" if service in ("iam", "budgets", "cloudfront") else self.region  # global services
        arn = f"arn:aws:{service}:{region}:{self.account}:{kind}/{physical}"
        for out in outputs_known - set(outputs):
            lowered = out.lower()
            if lowered == "arn":
                outputs[out] = arn
            elif lowered.endswith("arn"):
                outputs[out] = f"{arn}/{out}"
            elif lowered.endswith("url") or lowered == "endpoint":
                outputs[out] = f"https://{physical}.{service}.{self.region}.example.test/"
        return args.resource_id or f"{physical}-id", outputs

    # -- invokes -----------------------------------------------------------------------------
    def call(self, args: pm.MockCallArgs):
        with self._lock:
            self.invokes.append((args.token, dict(args.args)))
        token = args.token
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
        return {}


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


_THREAD_LOOPS: set[asyncio.AbstractEventLoop] = set()
_LOOPS_LOCK = threading.Lock()


def close_event_loops() -> None:
    """Close the loops the SDK left open on this thread and on executor threads. Only at the end of a
    process: the SDK reuses a thread's loop in later runs and cannot be given a new one from here."""
    with _LOOPS_LOCK:
        loops = list(_THREAD_LOOPS)
        _THREAD_LOOPS.clear()
    try:
        loops.append(asyncio.get_event_loop_policy().get_event_loop())
    except RuntimeError:
        pass
    for loop in loops:
        if not loop.is_running() and not loop.is_closed():
            loop.close()


class RecordingMonitor(pm.MockMonitor):
    """A mock monitor that records each registration the way the engine sees it."""

    def __init__(self, mocks: pm.Mocks):
        super().__init__(mocks)
        self.records: list[ResourceRecord] = []
        self._urns: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _remember_loop() -> None:
        # The SDK's mock monitor creates an event loop in each executor thread it is called on and never
        # closes it; left to interpreter shutdown, such a loop's __del__ can print a spurious traceback.
        if threading.current_thread() is threading.main_thread():
            return
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:  # this call needed no loop (the root Stack registration)
            return
        with _LOOPS_LOCK:
            _THREAD_LOOPS.add(loop)

    def Invoke(self, request):
        resp = super().Invoke(request)
        self._remember_loop()
        return resp

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine qualifies a child's type with the whole chain of its ancestors' types, but
        # never with the root Stack's (MockMonitor keeps only the immediate parent's).
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"

    def RegisterResource(self, request):
        resp = super().RegisterResource(request)
        self._remember_loop()
        if request.type == "pulumi:pulumi:Stack":
            return resp
        record = ResourceRecord(
            type=request.type,
            name=request.name,
            urn=resp.urn,
            custom=bool(request.custom),
            parent=request.parent,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
            inputs_struct=request.object,
            outputs_struct=resp.object,
            outputs=rpc.deserialize_properties(resp.object, keep_unknowns=True),
            protect=bool(request.protect),
            provider=request.provider,
        )
        with self._lock:
            if record.urn in self._urns:
                # The engine refuses duplicate URNs; the SDK's mocks silently accept them.
                raise ValueError(f"Duplicate resource URN '{record.urn}'; try giving it a unique name")
            self._urns.add(record.urn)
            self.records.append(record)
        return resp
