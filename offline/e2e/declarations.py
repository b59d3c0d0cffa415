"""What the program declares, read from its own run under the mock runtime (``--update`` semantics).

Every later step of the end-to-end run works from these records, never from a second description of the
system: the tables are created from the Table inputs, each function runs from the archive its Function
declares with the environment it declares, and each call is judged against the policies its role declares.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi

from offline.mocks import ResourceRecord
from offline.program import run_program

FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


@dataclass(frozen=True)
class Function:
    logical: str                 # the component's logical name, e.g. "ingestion"
    name: str
    arn: str
    role_urn: str
    environment: dict[str, str]
    timeout_seconds: float
    memory_mb: float
    runtime: Optional[str]
    handler: Optional[str]
    tracing_mode: Optional[str]
    package_type: str            # "Zip" or "Image"
    archive: dict[str, Path]     # path in the zip -> file on disk (zip functions)
    record: ResourceRecord = field(repr=False)


@dataclass(frozen=True)
class Role:
    urn: str
    name: str
    arn: str
    assume_role_policy: dict
    inline_policies: dict[str, dict]      # policy name -> document
    managed_policy_arns: tuple[str, ...]


class Declarations:
    """The records of one run, with the questions the end-to-end run asks of them."""

    def __init__(self, records: Iterable[ResourceRecord], stack: str, project: str):
        self.records = list(records)
        self.stack, self.project = stack, project
        self.by_urn = {r.urn: r for r in self.records}

    @classmethod
    def load(cls, program_dir: Path, stack: str) -> Declarations:
        run = run_program(program_dir, stack, preview=False)
        return cls(run.records, run.stack.stack, run.stack.project)

    def of_type(self, type_token: str) -> list[ResourceRecord]:
        return [r for r in self.records if r.type == type_token]

    def value(self, record: ResourceRecord, key: str) -> Any:
        """An input, else the output the provider would compute (ids, ARNs)."""
        if key in record.inputs and record.inputs[key] is not None:
            return record.inputs[key]
        return (record.outputs or {}).get(key)

    def depends_on(self, record: ResourceRecord, prop: str) -> list[ResourceRecord]:
        return [self.by_urn[u] for u in record.property_dependencies.get(prop, []) if u in self.by_urn]

    # -- functions and roles ---------------------------------------------------------------------------------
    def functions(self) -> dict[str, Function]:
        out: dict[str, Function] = {}
        for record in self.of_type(FUNCTION):
            (role,) = self.depends_on(record, "role")
            code = record.inputs.get("code")
            archive = ({k: Path(v.path) for k, v in code.assets.items() if isinstance(v, pulumi.FileAsset)}
                       if isinstance(code, pulumi.AssetArchive) else {})
            logical = record.inputs["name"].removeprefix(f"{self.stack}-sentiment-")
            out[logical] = Function(
                logical=logical, name=record.inputs["name"], arn=self.value(record, "arn"), role_urn=role.urn,
                environment=dict((record.inputs.get("environment") or {}).get("variables") or {}),
                timeout_seconds=float(record.inputs.get("timeout") or 3),
                memory_mb=float(record.inputs.get("memorySize") or 128),
                runtime=record.inputs.get("runtime"), handler=record.inputs.get("handler"),
                tracing_mode=(record.inputs.get("tracingConfig") or {}).get("mode"),
                package_type=record.inputs.get("packageType") or "Zip", archive=archive, record=record)
        return out

    def roles(self) -> dict[str, Role]:
        out: dict[str, Role] = {}
        for record in self.of_type(ROLE):
            inline = {}
            for p in self.of_type(ROLE_POLICY):
                if record.urn in p.property_dependencies.get("role", []):
                    inline[p.name] = json.loads(p.inputs["policy"])
            managed = tuple(a.inputs["policyArn"] for a in self.of_type(ATTACHMENT)
                            if record.urn in a.property_dependencies.get("role", []))
            out[record.urn] = Role(urn=record.urn, name=self.value(record, "name"), arn=self.value(record, "arn"),
                                   assume_role_policy=json.loads(record.inputs["assumeRolePolicy"]),
                                   inline_policies=inline, managed_policy_arns=managed)
        return out

    def function_urls(self) -> list[ResourceRecord]:
        return self.of_type("aws:lambda/functionUrl:FunctionUrl")

    def permissions_of(self, function: Function) -> list[dict]:
        return [p.inputs for p in self.of_type("aws:lambda/permission:Permission")
                if function.record.urn in p.property_dependencies.get("function", [])
                or p.inputs.get("function") == function.name]
