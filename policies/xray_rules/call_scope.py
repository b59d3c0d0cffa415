"""One ``AnalyzeStack`` call builds the stack's resources once and one ``StackIndex`` for all its stack policies;
each wire ``Struct`` of an ``Analyze`` call is converted to a dict once, not once per policy.

pulumi-policy (1.21, pinned) builds every stack policy's resource list afresh from the request: each resource's
props converted (``json_format.MessageToDict``, ``deserialize_properties``), proxied, its options and provider
built, a ``PolicyResource`` made and linked to its parent and dependencies, once per stack policy. With 11 stack
policies that was 80 % of an ``AnalyzeStack`` answer (prod stack: 30 of 37 ms; 10,000 resources: seconds), all
of it the same work on the same request. ``install()`` replaces the servicer's ``AnalyzeStack`` by
``_analyze_stack``: the SDK's own steps (its private helpers for options, providers, levels, reporters and
config; its handling of an unknown value at preview and of a policy that is not applicable), with the resources
built once, when the first enabled stack policy needs them. Each policy gets its own list of them; the
``PolicyResource`` objects are shared, which no policy of this pack can tell: they only read them, and every
stack policy of a call reads them through the call's one index anyway.

Structs are converted by ``struct_dict`` (``MessageToDict``'s result, without its generic dispatch), and the
index's ``plain`` props are made from each resource's props before they were proxied (``_Call.plain_props``):
reading them back through the proxies cost a proxy access per value. Prod stack, same process: the conversion
19.6 -> 11.7 ms, the plain props 6.5 -> 3.5 ms.

The index: the call is the scope, held in a context variable because the gRPC server runs calls on a thread pool,
each call on one thread from start to end. Inside it the first stack policy builds the ``StackIndex`` and the
others reuse it; it ends with the call, so nothing survives into the next one (two calls can carry the same URNs
with different props: preview, then update). Outside any scope (a policy's ``validate`` called directly, another
host) every policy builds its own index, exactly as without this module.

``Analyze`` keeps the SDK's own loop, where each resource policy gets its own props objects (a policy changing
its props changes nothing the next one reads); inside its scope the SDK's policy module sees a ``json_format``
whose ``MessageToDict`` returns the dict already made for an equal message in this call, and a
``deserialize_properties`` that returns the result already made for that dict. Neither result is changed by the
SDK afterwards (``unknown_checking_proxy`` copies every dict and list into new proxies).
"""
from __future__ import annotations

import asyncio
import functools
import types
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, PolicyResource, StackValidationArgs, StackValidationPolicy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from .stack_index import StackIndex
from .struct_dict import struct_to_dict
from .values import plain

_MARK = "_xray_rules_call_scope"
_STRUCT = "google.protobuf.Struct"


@dataclass
class _Call:
    urns: tuple[str, ...] = ()
    index: StackIndex | None = None
    #: (message type, deterministic wire bytes) -> its ``MessageToDict``: equal providers share one entry.
    dicts: dict[tuple[str, bytes], Any] = field(default_factory=dict)
    # id(source) -> (source, what was made from it): a message's dict, a dict's deserialized props.
    messages: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    deserialized: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    # id(resource) -> (resource, its deserialized props before proxying), for the resources this call built.
    unproxied: dict[int, tuple[PolicyResource, dict[str, Any]]] = field(default_factory=dict)

    def plain_props(self, resource: PolicyResource) -> Any:
        """``plain(resource.props)``, made from the props before they were proxied when this call built them:
        the same value (the proxy only raises where ``plain`` puts ``UNKNOWN``) without a proxy access per value."""
        found = self.unproxied.get(id(resource))
        return plain(found[1] if found is not None and found[0] is resource else resource.props)


_CURRENT: ContextVar[_Call | None] = ContextVar("xray_rules_analyze_stack_call", default=None)
#: The SDK's own ``AnalyzeStack``, as it was before ``install()`` (the tests compare ``_analyze_stack`` with it).
SDK_ANALYZE_STACK: Callable[..., Any] | None = None


def index_for(resources: Sequence[PolicyResource]) -> StackIndex:
    """The index of these resources: the call's own if one was built for them, else a new one."""
    call = _CURRENT.get()
    if call is None:
        return StackIndex.build(resources)
    urns = tuple(r.urn for r in resources)
    if call.index is None or call.urns != urns:  # the same request's resources, or build anew
        call.index, call.urns = StackIndex.build(resources, props_of=call.plain_props), urns
    return call.index


def _shared(table: dict[int, tuple[Any, Any]], source: Any, make: Callable[[], Any]) -> Any:
    """``make()`` once per ``source`` object in this call (``source`` is kept, so its id stays its own)."""
    found = table.get(id(source))
    if found is None or found[0] is not source:
        found = table[id(source)] = (source, make())
    return found[1]


def _message_to_dict(message: Any, *args: Any, **kwargs: Any) -> Any:
    call = _CURRENT.get()
    if call is None or args or kwargs:
        return json_format.MessageToDict(message, *args, **kwargs)

    def by_content() -> Any:
        key = (message.DESCRIPTOR.full_name, message.SerializeToString(deterministic=True))
        found = call.dicts.get(key)
        if found is None:
            found = call.dicts[key] = (struct_to_dict(message) if key[0] == _STRUCT
                                       else json_format.MessageToDict(message))
        return found

    return _shared(call.messages, message, by_content)


def _deserialize_properties(props: Any, *args: Any, **kwargs: Any) -> Any:
    call = _CURRENT.get()
    if call is None or args or kwargs:  # Remediate's secret-preserving form is never shared
        return deserialize_properties(props, *args, **kwargs)
    return _shared(call.deserialized, props, lambda: deserialize_properties(props))


def _stack_resources(servicer: Any, request: Any, unproxied: dict[int, tuple[PolicyResource, dict[str, Any]]]
                     ) -> list[PolicyResource]:
    """The request's resources as the SDK's ``AnalyzeStack`` builds them for a policy, parents and (property)
    dependencies linked to the resource objects; a URN that is not in the request links nothing. Each resource's
    props before proxying go into ``unproxied``."""
    resources: list[PolicyResource] = []
    links: list[tuple[PolicyResource, str, list[str], dict[str, list[str]]]] = []
    for r in request.resources:
        # Each resource's own props are converted once here; its provider's through the scope (one per provider).
        deserialized = deserialize_properties(struct_to_dict(r.properties))
        resource = PolicyResource(r.type, unknown_checking_proxy(deserialized), r.urn, r.name,
                                  servicer._get_resource_options(r), servicer._get_provider_resource(r), None, [], {})
        unproxied[id(resource)] = (resource, deserialized)
        resources.append(resource)
        links.append((resource, r.parent, list(r.dependencies),
                      {k: list(v.urns) for k, v in r.propertyDependencies.items()}))
    by_urn = {r.urn: r for r in resources}
    for resource, parent, dependencies, property_dependencies in links:
        if parent in by_urn:
            resource.parent = by_urn[parent]
        resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
        for key, urns in property_dependencies.items():
            resource.property_dependencies[key] = [by_urn[d] for d in urns if d in by_urn]
    return resources


def _analyze_stack(self: Any, request: Any, _context: Any) -> Any:
    """pulumi-policy 1.21's ``AnalyzeStack`` (``policy._PolicyAnalyzerServicer``), with the resources built once."""
    from pulumi_policy.policy import _NotApplicableError  # private, as the servicer is

    pack_name = self._PolicyAnalyzerServicer__policy_pack_name
    pack_version = self._PolicyAnalyzerServicer__policy_pack_version
    self._configure_runtime_settings()
    response = proto.AnalyzeResponse()
    resources: list[PolicyResource] | None = None
    for policy in self._PolicyAnalyzerServicer__policies:
        level = self._get_enforcement_level(policy)
        if level == EnforcementLevel.DISABLED or not isinstance(policy, StackValidationPolicy):
            continue
        if level == EnforcementLevel.REMEDIATE:  # stack policies cannot remediate: the SDK treats it as mandatory
            level = EnforcementLevel.MANDATORY
        report_violation = self._create_report_violation(response, policy.name, policy.description, level,
                                                         policy.severity)
        if resources is None:
            call = _CURRENT.get()
            resources = _stack_resources(self, request, call.unproxied if call is not None else {})
        args = StackValidationArgs(list(resources), self._get_policy_config(policy.name),
                                   self._PolicyAnalyzerServicer__stack_tags)
        try:
            result = policy.validate(args, report_violation)
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                loop.run_until_complete(result)
                loop.close()
        except UnknownValueError as e:
            response.diagnostics.append(proto.AnalyzeDiagnostic(
                policyName=policy.name, policyPackName=pack_name, policyPackVersion=pack_version,
                message=(f"can't run policy '{policy.name}' from policy pack '{pack_name}@v{pack_version}' "
                         f"during preview: {e.message}"),
                urn="", description=policy.description,
                enforcementLevel=self._map_enforcement_level(EnforcementLevel.ADVISORY)))
        except _NotApplicableError as e:
            response.not_applicable.append(proto.PolicyNotApplicable(policy_name=policy.name, reason=e.reason or ""))
    return response


class _ScopedJsonFormat(types.ModuleType):
    """``json_format`` as the SDK's policy module sees it: ``MessageToDict`` shared within a call scope."""

    MessageToDict = staticmethod(_message_to_dict)

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


def _scoped(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def scoped(self: Any, request: Any, context: Any) -> Any:
        token = _CURRENT.set(_Call())
        try:
            return method(self, request, context)
        finally:
            _CURRENT.reset(token)

    setattr(scoped, _MARK, True)
    return scoped


def install() -> None:
    """Give the SDK servicer the build-once ``AnalyzeStack``, run it and ``Analyze`` in a call scope, and give
    the SDK's policy module the scope-sharing conversions (once; before the server registers the servicer)."""
    from pulumi_policy import policy  # private: the servicer's methods are the only per-call boundary there is

    global SDK_ANALYZE_STACK
    servicer = policy._PolicyAnalyzerServicer
    if SDK_ANALYZE_STACK is None:
        SDK_ANALYZE_STACK = servicer.AnalyzeStack
    for name, method in (("AnalyzeStack", _analyze_stack), ("Analyze", servicer.Analyze)):
        if not getattr(getattr(servicer, name), _MARK, False):
            setattr(servicer, name, _scoped(method))
    if not isinstance(policy.json_format, _ScopedJsonFormat):
        policy.json_format = _ScopedJsonFormat(json_format.__name__)
        policy.deserialize_properties = _deserialize_properties
