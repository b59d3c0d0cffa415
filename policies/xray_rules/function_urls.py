"""Function URLs: a public (``NONE``) URL answers only when the function's resource policy grants the public
both invoke actions (docs/aws-facts.md PRM-7, D13 in docs/decisions.md)."""
from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationPolicy

from .config import Config
from .define import Stack, stack_policy
from .permissions import action_matches
from .stack_index import Node, StackIndex, function_key, function_qualifier
from .values import UNKNOWN

PUBLIC = "*"
NONE_AUTH = "NONE"
URL_ACTION = "lambda:InvokeFunctionUrl"
INVOKE_ACTION = "lambda:InvokeFunction"


def _public_urls(index: StackIndex, cfg: Config) -> list[Node]:
    return [url for url in index.urls if url.props.get("authorizationType") == NONE_AUTH]


def _target(index: StackIndex, node: Node, prop: str) -> tuple[set[str], Any]:
    """(what a URL or a permission is attached to: function URNs, else the function name; its qualifier)."""
    value = node.props.get(prop)
    linked = index.functions_of(node, value, prop)
    names = {fn.urn for fn in linked} or ({key} if (key := function_key(value)) else set())
    qualifier = node.props.get("qualifier")
    return names, qualifier if qualifier is not None else function_qualifier(value)


def _is(value: Any, wanted: Any) -> bool:
    return value is UNKNOWN or value == wanted


def _grants_url(perm: Node) -> bool:
    p = perm.props
    return (_is(p.get("principal"), PUBLIC) and action_matches(p.get("action"), URL_ACTION) in (True, UNKNOWN)
            and _is(p.get("functionUrlAuthType"), NONE_AUTH))


def _grants_invoke(perm: Node) -> bool:
    p = perm.props
    return _is(p.get("principal"), PUBLIC) and action_matches(p.get("action"), INVOKE_ACTION) in (True, UNKNOWN)


def check_url_permissions(stack: Stack, report: ReportViolation) -> None:
    index = stack.index
    by_target: dict[str, list[tuple[Node, Any]]] = {}
    for perm in index.permissions:
        names, qualifier = _target(index, perm, "function")
        for name in names:
            by_target.setdefault(name, []).append((perm, qualifier))
    for url in stack.subjects:
        names, qualifier = _target(index, url, "functionName")
        if not names:
            continue  # the function is not known yet and not related by dependencies: judged after the update
        mine = [perm for name in names for perm, q in by_target.get(name, [])
                if UNKNOWN in (q, qualifier) or q == qualifier]
        invoke = [perm for perm in mine if _grants_invoke(perm)]
        missing = []
        if not any(_grants_url(perm) for perm in mine):
            missing.append(f"aws.lambda_.Permission(action='{URL_ACTION}', principal='{PUBLIC}', "
                           f"function_url_auth_type='{NONE_AUTH}')")
        if not invoke:
            missing.append(f"aws.lambda_.Permission(action='{INVOKE_ACTION}', principal='{PUBLIC}', "
                           f"invoked_via_function_url=True)")
        at = f" (qualifier {qualifier!r})" if isinstance(qualifier, str) else ""
        if missing:
            report(f"Function URL '{url.logical}'{at} has authorization_type '{NONE_AUTH}', but its function's resource "
                   f"policy lacks {' and '.join(missing)}: Lambda refuses every request with 403 Forbidden until both "
                   f"are granted (new URLs need both since October 2025). Add them for the same function and "
                   f"qualifier as the URL.", url.urn)
        elif not any(p.props.get("invokedViaFunctionUrl") in (True, UNKNOWN) for p in invoke):
            report(f"Function URL '{url.logical}'{at}: the public '{INVOKE_ACTION}' permission of its function is not "
                   f"limited to URL invocations, so any AWS account can invoke the function directly. Set "
                   f"invoked_via_function_url=True on that aws.lambda_.Permission.", url.urn)


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy(
            name="function-url-public-permissions", level=EnforcementLevel.MANDATORY, subjects=_public_urls,
            check=check_url_permissions, config={},
            describe=lambda d: (f"A Function URL with authorization_type {NONE_AUTH} must have the two public "
                                f"permissions ({URL_ACTION} with function_url_auth_type {NONE_AUTH}, {INVOKE_ACTION} "
                                f"with invoked_via_function_url), or every request is refused with 403.")),
    ]
