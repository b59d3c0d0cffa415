"""One ``StackIndex`` per ``AnalyzeStack`` call, shared by every stack policy of that call; and each wire
``Struct`` of an ``Analyze``/``AnalyzeStack`` call converted to a dict once, not once per policy.

pulumi-policy (1.21, pinned) gives each stack policy its own ``StackValidationArgs`` whose resource list
it deserializes afresh from the request: the policies of one call share no Python object a cache could
key on, and two calls can carry the same URNs with different props (preview, then update). The one
boundary that is exactly "one call" is the servicer's ``AnalyzeStack`` method, so ``install()`` wraps it
to open a scope for the duration of the call. The scope lives in a context variable because the gRPC
server runs calls on a thread pool, each call on one thread from start to end.

Inside a scope the first stack policy builds the index and the others reuse it; the scope ends with the
call, so nothing survives into the next one. Outside any scope (a policy's ``validate`` called directly,
another host) every policy builds its own index, exactly as without this module.

The SDK converts every resource's props (and its provider's) with ``json_format.MessageToDict`` and
``deserialize_properties`` once per policy: with 8 stack policies that was ~85% of ``AnalyzeStack``. Inside
a scope the SDK's policy module sees a ``json_format`` whose ``MessageToDict`` returns the dict already
made for an equal message in this call, and a ``deserialize_properties`` that returns the result already
made for that dict. Neither result is changed by the SDK afterwards (``unknown_checking_proxy`` copies
every dict and list into new proxies), so in ``Analyze`` each policy still gets its own props objects, as
without this. In ``AnalyzeStack`` the proxies are shared too (``unknown_checking_proxy`` of the same
deserialized props returns the first one), and so are each resource's options and provider objects: no
change a policy can see, since every stack policy of a call already reads the first policy's resources
through the call's one index.
"""
from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from pulumi_policy import PolicyResource
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from .stack_index import StackIndex

_MARK = "_xray_rules_call_scope"


@dataclass
class _Call:
    #: AnalyzeStack: proxies, options and providers too (not only the conversions), see the module's doc.
    share_objects: bool = False
    urns: tuple[str, ...] = ()
    index: StackIndex | None = None
    #: (message type, deterministic wire bytes) -> its ``MessageToDict``: equal providers share one entry.
    dicts: dict[tuple[str, bytes], Any] = field(default_factory=dict)
    # id(source) -> (source, what was made from it): a message's dict, a dict's deserialized props, their proxy,
    # a request resource's options and provider.
    messages: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    deserialized: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    proxies: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    options: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    providers: dict[int, tuple[Any, Any]] = field(default_factory=dict)


_CURRENT: ContextVar[_Call | None] = ContextVar("xray_rules_analyze_stack_call", default=None)


def index_for(resources: Sequence[PolicyResource]) -> StackIndex:
    """The index of these resources: the call's own if one was built for them, else a new one."""
    call = _CURRENT.get()
    if call is None:
        return StackIndex.build(resources)
    urns = tuple(r.urn for r in resources)
    if call.index is None or call.urns != urns:  # the same request's resources, or build anew
        call.index, call.urns = StackIndex.build(resources), urns
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
            found = call.dicts[key] = json_format.MessageToDict(message)
        return found

    return _shared(call.messages, message, by_content)


def _deserialize_properties(props: Any, *args: Any, **kwargs: Any) -> Any:
    call = _CURRENT.get()
    if call is None or args or kwargs:  # Remediate's secret-preserving form is never shared
        return deserialize_properties(props, *args, **kwargs)
    return _shared(call.deserialized, props, lambda: deserialize_properties(props))


def _unknown_checking_proxy(props: Any) -> Any:
    call = _CURRENT.get()
    if call is None or not call.share_objects:
        return unknown_checking_proxy(props)
    return _shared(call.proxies, props, lambda: unknown_checking_proxy(props))


def _shared_per_request(method: Callable[[Any, Any], Any], table: str) -> Callable[[Any, Any], Any]:
    """The servicer's ``_get_resource_options``/``_get_provider_resource``: once per resource of the request
    when the call shares objects."""
    @functools.wraps(method)
    def shared(self: Any, request: Any) -> Any:
        call = _CURRENT.get()
        if call is None or not call.share_objects:
            return method(self, request)
        return _shared(getattr(call, table), request, lambda: method(self, request))

    setattr(shared, _MARK, True)
    return shared


class _ScopedJsonFormat(types.ModuleType):
    """``json_format`` as the SDK's policy module sees it: ``MessageToDict`` shared within a call scope."""

    MessageToDict = staticmethod(_message_to_dict)

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


def _scoped(method: Callable[..., Any], *, share_objects: bool) -> Callable[..., Any]:
    @functools.wraps(method)
    def scoped(self: Any, request: Any, context: Any) -> Any:
        token = _CURRENT.set(_Call(share_objects=share_objects))
        try:
            return method(self, request, context)
        finally:
            _CURRENT.reset(token)

    setattr(scoped, _MARK, True)
    return scoped


def install() -> None:
    """Wrap the SDK servicer's ``AnalyzeStack`` and ``Analyze`` in a call scope, and give its module the
    scope-sharing conversions (once; before the server registers the servicer)."""
    from pulumi_policy import policy  # private: the servicer's methods are the only per-call boundary there is

    servicer = policy._PolicyAnalyzerServicer
    for name, share_objects in (("AnalyzeStack", True), ("Analyze", False)):
        if not getattr(getattr(servicer, name), _MARK, False):
            setattr(servicer, name, _scoped(getattr(servicer, name), share_objects=share_objects))
    for name, table in (("_get_resource_options", "options"), ("_get_provider_resource", "providers")):
        if not getattr(getattr(servicer, name), _MARK, False):
            setattr(servicer, name, _shared_per_request(getattr(servicer, name), table))
    if not isinstance(policy.json_format, _ScopedJsonFormat):
        policy.json_format = _ScopedJsonFormat(json_format.__name__)
        policy.deserialize_properties = _deserialize_properties
        policy.unknown_checking_proxy = _unknown_checking_proxy
