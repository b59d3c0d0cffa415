"""One pass over the stack's resources, building every lookup the stack policies need.

Every stack policy of one ``AnalyzeStack`` call reads the same ``StackIndex`` (``call_scope``): a single
loop, dictionary lookups after that, so the stack policies are linear in the number of resources.
Linking matches known values first (a function by name, ``name:qualifier`` or ARN), and when a value is
unknown at preview falls back to the resource's ``property_dependencies`` for that property (the
engine records which resources an input was computed from), then to its plain ``dependencies``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pulumi_policy import PolicyResource

from contract.metrics import FUNCTION_DIMENSION

from . import alarm_props as A
from .resource_types import (
    BUDGET,
    COMPOSITE_ALARM,
    DASHBOARD,
    FUNCTION,
    FUNCTION_URL,
    IAM_POLICY,
    LOG_METRIC_FILTER,
    METRIC_ALARM,
    PERMISSION,
    REST_STAGE,
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    STATE_MACHINE,
    TOPIC,
    TOPIC_SUBSCRIPTION,
    XRAY_PREFIX,
    XRAY_RESOURCE_POLICY,
)
from .values import UNKNOWN, as_list, dig, parse_json, plain

_WANTED = {FUNCTION, FUNCTION_URL, ROLE, ROLE_POLICY, ROLE_POLICY_ATTACHMENT, IAM_POLICY, BUDGET, DASHBOARD,
           METRIC_ALARM, COMPOSITE_ALARM, PERMISSION, TOPIC, TOPIC_SUBSCRIPTION, REST_STAGE, STATE_MACHINE,
           LOG_METRIC_FILTER}
#: Lambda's value for an actively traced function (``tracing_config.mode``).
ACTIVE = "Active"


def function_key(value: Any) -> str | None:
    """The function name inside a name, ``name:qualifier``, full or partial ARN; None if not one."""
    if not isinstance(value, str) or not value:
        return None
    if ":function:" in value:
        return value.split(":function:", 1)[1].split(":")[0] or None
    if value.startswith("arn:"):
        return None
    return value.split(":")[0]


def function_qualifier(value: Any) -> str | None:
    """The version or alias inside ``name:qualifier`` or a qualified (full or partial) ARN; None if unqualified."""
    if not isinstance(value, str) or not value:
        return None
    rest = value.split(":function:", 1)[1] if ":function:" in value else value
    parts = rest.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else None


def topic_key(value: Any) -> str | None:
    """The topic name inside a topic ARN (``arn:aws:sns:region:account:name``) or a name; None if not one."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("arn:"):
        return value.rsplit(":", 1)[-1] if ":sns:" in value else None
    return value


def role_key(value: Any) -> str | None:
    """The role name inside a role name or role ARN (``arn:aws:iam::123:role/path/name``)."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("arn:"):
        if ":role/" not in value:
            return None
        return value.rsplit("/", 1)[-1]
    return value


@dataclass
class Node:
    """A resource of interest, with its props made ``plain`` once."""

    resource: PolicyResource
    props: dict

    @property
    def urn(self) -> str:
        return self.resource.urn

    @property
    def logical(self) -> str:
        return self.resource.name

    @property
    def physical(self) -> Any:
        return self.props.get("name")

    def label(self) -> str:
        phys = self.physical
        return f"{self.logical}" + (f" ({phys})" if isinstance(phys, str) and phys != self.logical else "")

    def pdeps(self, *keys: str) -> list[PolicyResource]:
        deps = getattr(self.resource, "property_dependencies", None) or {}
        out: list[PolicyResource] = []
        for key in keys:
            out.extend(deps.get(key) or [])
        return out

    def deps(self) -> list[PolicyResource]:
        return list(getattr(self.resource, "dependencies", None) or [])


@dataclass
class Grant:
    """One source of IAM permissions for a role: a policy document, or a managed policy ARN."""

    origin: str
    document: Any = None           # dict, UNKNOWN or None
    managed_arn: Any = None        # str or UNKNOWN


@dataclass
class StackIndex:
    functions: list[Node] = field(default_factory=list)
    alarms: list[Node] = field(default_factory=list)            # metric and composite alarms
    urls: list[Node] = field(default_factory=list)
    roles: list[Node] = field(default_factory=list)
    budgets: list[Node] = field(default_factory=list)
    dashboards: list[Node] = field(default_factory=list)
    permissions: list[Node] = field(default_factory=list)        # aws.lambda_.Permission
    topics: list[Node] = field(default_factory=list)
    subscriptions: list[Node] = field(default_factory=list)
    #: Topics, REST API stages and state machines with tracing on, and X-Ray resources: what spends on X-Ray.
    traced_services: int = 0
    xray_resources: int = 0
    xray_resource_policies: list[Node] = field(default_factory=list)
    #: (namespace, metric name) of every metric a log metric filter of the stack publishes (D6).
    filter_metrics: set[tuple[Any, Any]] = field(default_factory=set)
    by_urn: dict[str, Node] = field(default_factory=dict)
    fn_by_key: dict[str, Node] = field(default_factory=dict)
    topic_by_key: dict[str, Node] = field(default_factory=dict)
    role_by_key: dict[str, Node] = field(default_factory=dict)
    iam_policy_by_arn: dict[str, Node] = field(default_factory=dict)
    grants: dict[str, list[Grant]] = field(default_factory=dict)  # role urn -> grants
    _role_users: list[Node] = field(default_factory=list)          # RolePolicy / attachments, resolved last

    @classmethod
    def build(cls, resources: Iterable[PolicyResource],
              props_of: Callable[[PolicyResource], Any] = lambda r: plain(r.props)) -> StackIndex:
        """``props_of(resource)`` is ``plain(resource.props)``, or the same value made another way (the call
        scope makes it from the props before they were proxied)."""
        index = cls()
        buckets = {FUNCTION: index.functions, METRIC_ALARM: index.alarms, COMPOSITE_ALARM: index.alarms,
                   FUNCTION_URL: index.urls, ROLE: index.roles, BUDGET: index.budgets,
                   DASHBOARD: index.dashboards, ROLE_POLICY: index._role_users,
                   ROLE_POLICY_ATTACHMENT: index._role_users, PERMISSION: index.permissions, TOPIC: index.topics,
                   TOPIC_SUBSCRIPTION: index.subscriptions, XRAY_RESOURCE_POLICY: index.xray_resource_policies}
        for resource in resources:
            rtype = resource.resource_type
            if rtype.startswith(XRAY_PREFIX):
                index.xray_resources += 1
            elif rtype not in _WANTED:
                continue
            node = Node(resource, props_of(resource))
            index.by_urn[resource.urn] = node
            if rtype in buckets:
                buckets[rtype].append(node)
            if rtype == FUNCTION:
                for value in (node.physical, node.props.get("arn")):
                    key = function_key(value)
                    if key:
                        index.fn_by_key.setdefault(key, node)
            elif rtype == ROLE:
                for value in (node.physical, node.props.get("arn")):
                    key = role_key(value)
                    if key:
                        index.role_by_key.setdefault(key, node)
            elif rtype == IAM_POLICY:
                arn = node.props.get("arn")
                if isinstance(arn, str):
                    index.iam_policy_by_arn[arn] = node
            elif rtype == TOPIC:
                for value in (node.physical, node.props.get("arn")):
                    key = topic_key(value)
                    if key:
                        index.topic_by_key.setdefault(key, node)
                index.traced_services += node.props.get("tracingConfig") == ACTIVE
            elif rtype == REST_STAGE:
                index.traced_services += node.props.get("xrayTracingEnabled") is True
            elif rtype == STATE_MACHINE:
                index.traced_services += dig(node.props, "tracingConfiguration", "enabled") is True
            elif rtype == LOG_METRIC_FILTER:
                transformation = node.props.get("metricTransformation")
                if isinstance(transformation, dict):
                    index.filter_metrics.add((transformation.get("namespace"), transformation.get("name")))
        index._collect_grants()
        return index

    # -- linking ----------------------------------------------------------------------------------
    def _nodes(self, resources: Iterable[PolicyResource], rtype: str) -> list[Node]:
        out = []
        for r in resources:
            node = self.by_urn.get(r.urn)
            if node is not None and node.resource.resource_type == rtype and node not in out:
                out.append(node)
        return out

    def link(self, node: Node, value: Any, *, prop_keys: tuple[str, ...], rtype: str,
             key_fn: Callable[[Any], str | None], table: dict[str, Node]) -> list[Node]:
        """Resources of ``rtype`` that ``value`` (read from ``node``'s ``prop_keys``) refers to."""
        key = key_fn(value)
        if key:
            target = table.get(key)
            return [target] if target else []
        if value is UNKNOWN:  # an absent value (None) refers to nothing, whatever else the property depends on
            by_prop = self._nodes(node.pdeps(*prop_keys), rtype)
            if by_prop:
                return by_prop
            deps = self._nodes(node.deps(), rtype)
            return deps if len(deps) == 1 else []  # a weaker signal: only when unambiguous
        return []

    def functions_of(self, node: Node, value: Any, *prop_keys: str) -> list[Node]:
        return self.link(node, value, prop_keys=prop_keys, rtype=FUNCTION, key_fn=function_key, table=self.fn_by_key)

    def topics_of(self, node: Node, value: Any, *prop_keys: str) -> list[Node]:
        return self.link(node, value, prop_keys=prop_keys, rtype=TOPIC, key_fn=topic_key, table=self.topic_by_key)

    def roles_of(self, node: Node, value: Any, *prop_keys: str) -> list[Node]:
        return self.link(node, value, prop_keys=prop_keys, rtype=ROLE, key_fn=role_key, table=self.role_by_key)

    # -- functions --------------------------------------------------------------------------------
    @staticmethod
    def tracing_mode(fn: Node) -> Any:
        """A function's ``tracingConfig.mode``: a string, ``UNKNOWN``, or None (Lambda's default, PassThrough)."""
        return dig(fn.props, "tracingConfig", "mode")

    @cached_property
    def traced_functions(self) -> list[Node]:
        """Functions with Active tracing, or whose mode is not known yet (they may be)."""
        return [fn for fn in self.functions if self.tracing_mode(fn) in (ACTIVE, UNKNOWN)]

    @cached_property
    def streaming(self) -> dict[str, list[Node]]:
        """Function URN -> its RESPONSE_STREAM URLs (the env lives on the function, the mode on the URL)."""
        out: dict[str, list[Node]] = {}
        for url in self.urls:
            if url.props.get("invokeMode") != "RESPONSE_STREAM":
                continue
            for fn in self.functions_of(url, url.props.get("functionName"), "functionName"):
                out.setdefault(fn.urn, []).append(url)
        return out

    def alarms_by_function(self, predicate: Callable[[A.Metric], bool]
                           ) -> tuple[dict[str, list[tuple[Node, A.Metric]]], list[Node]]:
        """Function URN -> (alarm, metric) for every alarm metric that ``predicate`` accepts and whose
        ``FunctionName`` dimension links to that function; plus the matching alarms that link to nothing."""
        linked: dict[str, list[tuple[Node, A.Metric]]] = {}
        orphans: list[Node] = []
        for alarm in self.alarms:
            if alarm.resource.resource_type != METRIC_ALARM:
                continue
            hit = False
            for metric in A.metrics(alarm.props):
                if not predicate(metric):
                    continue
                for fn in self.functions_of(alarm, metric.dimension(FUNCTION_DIMENSION), metric.source):
                    linked.setdefault(fn.urn, []).append((alarm, metric))
                    hit = True
            if not hit and any(predicate(m) for m in A.metrics(alarm.props)):
                orphans.append(alarm)
        return linked, orphans

    def role_of_function(self, fn: Node) -> tuple[list[Node], Any]:
        value = fn.props.get("role")
        return self.roles_of(fn, value, "role"), value

    # -- IAM --------------------------------------------------------------------------------------
    def _collect_grants(self) -> None:
        for role in self.roles:
            grants = self.grants.setdefault(role.urn, [])
            inline = as_list(role.props.get("inlinePolicies"))
            if inline is UNKNOWN:
                grants.append(Grant(f"role {role.logical} inline policies", document=UNKNOWN))
            else:
                for item in inline:
                    doc = parse_json(item.get("policy")) if isinstance(item, dict) else UNKNOWN
                    grants.append(Grant(f"role {role.logical} inline policy", document=doc))
            managed = as_list(role.props.get("managedPolicyArns"))
            for arn in ([UNKNOWN] if managed is UNKNOWN else managed):
                grants.append(self._managed(f"role {role.logical} managed policy", arn, None))
        for user in self._role_users:
            targets = self.roles_of(user, user.props.get("role"), "role")
            if user.resource.resource_type == ROLE_POLICY:
                grant = Grant(f"role policy {user.logical}", document=parse_json(user.props.get("policy")))
            else:
                grant = self._managed(f"policy attachment {user.logical}", user.props.get("policyArn"), user)
            for role in targets:
                self.grants.setdefault(role.urn, []).append(grant)

    def _managed(self, origin: str, arn: Any, user: Node | None) -> Grant:
        if isinstance(arn, str) and arn in self.iam_policy_by_arn:
            return Grant(origin, document=parse_json(self.iam_policy_by_arn[arn].props.get("policy")))
        if arn is UNKNOWN and user is not None:
            policies = self._nodes(user.pdeps("policyArn"), IAM_POLICY)
            if len(policies) == 1:
                return Grant(origin, document=parse_json(policies[0].props.get("policy")))
        return Grant(origin, managed_arn=arn)
