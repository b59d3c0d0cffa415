"""How every policy of the pack is defined: the prologue they share, written once.

A policy names what it judges and says what is wrong with it; ``resource_policy`` and
``stack_policy`` do the rest before its check runs:

- the effective config (schema defaults overlaid with the engine's config, ``config``);
- ``exemptNames``: an exempted resource never reaches the check;
- ``suppressions``: each finding goes through ``suppressions.guarded`` (a tag or a config entry with a reason and
  an expiry turns it into a reported, non-failing one);
- preview-time unknowns: props are read ``plain`` (an unknown is the ``UNKNOWN`` marker, never an
  ``UnknownValueError`` that the SDK would turn into an advisory "can't run" diagnostic), and
  ``Resource.known`` marks the policy not applicable for a value the post-update run will know;
- for stack policies, the call's one ``StackIndex`` (``call_scope``).

Descriptions are formatted from the schema defaults, so a default changes in one place.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import suppressions
from .call_scope import index_for
from .config import Config, defaults, effective_config, exempt, schema
from .stack_index import Node, StackIndex
from .values import UNKNOWN, plain

#: ``describe(defaults)``: a policy's description, from its schema defaults.
Describe = Callable[[Config], str]


@dataclass(frozen=True)
class Resource:
    """The resource a resource policy judges, after the prologue."""

    args: ResourceValidationArgs
    props: dict          # ``plain`` props
    config: Config

    @property
    def name(self) -> str:
        return self.args.name

    @property
    def type(self) -> str:
        return self.args.resource_type

    def known(self, value: Any, what: str) -> Any:
        """``value``, or not applicable (the check stops) while the engine does not know it yet."""
        if value is UNKNOWN:
            self.args.not_applicable(f"{what} is unknown during preview; it is checked again when known")
        return value


@dataclass(frozen=True)
class Stack:
    """What a stack policy judges, after the prologue."""

    index: StackIndex
    config: Config
    subjects: list[Node]   # what this policy judges, exempted resources removed


ResourceCheck = Callable[[Resource, ReportViolation], None]
#: Returns the new props (``args.props`` changed in place keeps secrets secret), or None to leave them.
Remediation = Callable[[Resource], Mapping[str, Any] | None]
StackCheck = Callable[[Stack, ReportViolation], None]
#: The nodes a stack policy judges, before exemptions.
Subjects = Callable[[StackIndex, Config], Iterable[Node]]


def _judged(args: ResourceValidationArgs, types: frozenset[str], config_schema: Any) -> Resource | None:
    if args.resource_type not in types:
        return None
    props = plain(args.props)
    cfg = effective_config(args, config_schema)
    if exempt(cfg, args.name, props.get("name")):
        return None
    return Resource(args=args, props=props, config=cfg)


def resource_policy(*, name: str, level: EnforcementLevel, describe: Describe, types: Iterable[str],
                    config: Mapping[str, Any], check: ResourceCheck,
                    remediate: Remediation | None = None) -> ResourceValidationPolicy:
    """A policy judged on one resource of one of ``types`` at a time (``Analyze``/``Remediate``)."""
    config_schema = schema(config)
    judged_types = frozenset(types)

    suppressions.install()

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = _judged(args, judged_types, config_schema)
        if resource is None:
            return

        def on(urn: str | None) -> tuple[dict, tuple[Any, ...]] | None:
            if urn is not None and urn != args.urn:
                return None
            return resource.props, (resource.name, resource.props.get("name"))

        check(resource, suppressions.guarded(report_violation, name, resource.config, on))

    def remediation(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
        resource = _judged(args, judged_types, config_schema)
        return None if resource is None or remediate is None else remediate(resource)

    # The SDK awaits a remediation's result only if it is awaitable; its type alias names the async form alone.
    return ResourceValidationPolicy(
        name=name, description=describe(defaults(config_schema)), enforcement_level=level, validate=validate,
        remediate=remediation if remediate is not None else None,  # type: ignore[arg-type]
        config_schema=config_schema)


def stack_policy(*, name: str, level: EnforcementLevel, describe: Describe, subjects: Subjects,
                 config: Mapping[str, Any], check: StackCheck) -> StackValidationPolicy:
    """A policy judged on the whole stack at once (``AnalyzeStack``), reporting on the resource to change."""
    config_schema = schema(config)
    suppressions.install()

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        cfg = effective_config(args, config_schema)
        index = index_for(args.resources)
        judged = [node for node in subjects(index, cfg) if not exempt(cfg, node.logical, node.physical)]

        def on(urn: str | None) -> tuple[dict, tuple[Any, ...]] | None:
            node = index.by_urn.get(urn) if urn else None
            return (node.props, (node.logical, node.physical)) if node is not None else None

        check(Stack(index=index, config=cfg, subjects=judged), suppressions.guarded(report_violation, name, cfg, on))

    return StackValidationPolicy(name=name, description=describe(defaults(config_schema)), enforcement_level=level,
                                 validate=validate, config_schema=config_schema)
