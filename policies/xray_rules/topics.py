"""SNS topics that feed traced functions: Active tracing on the topic, and an X-Ray resource policy that lets
SNS write its segments (docs/aws-facts.md PRM-14, TRC-2, TRC-3)."""
from __future__ import annotations

from dataclasses import dataclass

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationPolicy

from .config import Config, json_list
from .define import Stack, stack_policy
from .permissions import action_matches, statements
from .stack_index import ACTIVE, Node, StackIndex
from .values import UNKNOWN, as_list, describe, parse_json

#: The principal SNS invokes Lambda and writes X-Ray segments as.
SNS_PRINCIPAL = "sns.amazonaws.com"
LAMBDA_PROTOCOL = "lambda"


@dataclass(frozen=True)
class Feed:
    """How a topic reaches a traced function: through a subscription or a Lambda permission."""

    via: Node
    function: Node


def _invokes(permission: Node, principal: str) -> bool:
    """A Lambda permission that lets ``principal`` invoke (unknown fields could be anything: they count)."""
    props = permission.props
    action = props.get("action")
    return (props.get("principal") in (principal, UNKNOWN)
            and (action is UNKNOWN or action_matches(action, "lambda:InvokeFunction") is True))


def feeds(index: StackIndex) -> dict[str, list[Feed]]:
    """Topic URN -> the traced functions it feeds. One pass over the subscriptions and the permissions."""
    traced = {fn.urn for fn in index.functions if index.tracing_mode(fn) == ACTIVE}
    out: dict[str, list[Feed]] = {}

    def add(topics: list[Node], via: Node, functions: list[Node]) -> None:
        for fn in functions:
            if fn.urn in traced:
                for topic in topics:
                    out.setdefault(topic.urn, []).append(Feed(via, fn))

    for sub in index.subscriptions:
        if sub.props.get("protocol") == LAMBDA_PROTOCOL:
            add(index.topics_of(sub, sub.props.get("topic"), "topic"), sub,
                index.functions_of(sub, sub.props.get("endpoint"), "endpoint"))
    for perm in index.permissions:
        if _invokes(perm, SNS_PRINCIPAL):
            add(index.topics_of(perm, perm.props.get("sourceArn"), "sourceArn"), perm,
                index.functions_of(perm, perm.props.get("function"), "function"))
    return out


def _topics_feeding_traced(index: StackIndex, cfg: Config) -> list[Node]:
    return [index.by_urn[urn] for urn in feeds(index)]


def _lets_sns_write(document: object, actions: list[str]) -> bool:
    """Whether an X-Ray resource policy allows SNS every one of ``actions`` (an unknown document may)."""
    if document is UNKNOWN:
        return True
    allowed: set[str] = set()
    for st in statements(document):
        principal = st.get("Principal")
        services = as_list(principal.get("Service")) if isinstance(principal, dict) else as_list(principal)
        if st.get("Effect") != "Allow" or (services is not UNKNOWN and not {SNS_PRINCIPAL, "*"} & set(services)):
            continue
        allowed |= {a for a in actions if action_matches(st.get("Action"), a) in (True, UNKNOWN)}
    return allowed == set(actions)


def check_topic_tracing(stack: Stack, report: ReportViolation) -> None:
    cfg, index = stack.config, stack.index
    fed = feeds(index)
    actions = list(cfg["xrayActions"])
    granted = any(_lets_sns_write(parse_json(p.props.get("policyDocument")), actions)
                  for p in index.xray_resource_policies)
    for topic in stack.subjects:
        first = fed[topic.urn][0]
        how = (f"{first.via.logical} delivers to the traced function '{first.function.label()}'"
               + (f" and {len(fed[topic.urn]) - 1} more" if len(fed[topic.urn]) > 1 else ""))
        mode = topic.props.get("tracingConfig")
        if mode is UNKNOWN:
            continue
        if mode != ACTIVE:
            report(f"SNS topic '{topic.label()}' has tracing_config {describe(mode)} but {how}: without Active "
                   f"tracing the topic is missing from the trace map and its delivery time is invisible. Set "
                   f"tracing_config='{ACTIVE}' on the aws.sns.Topic (FR-013, SC-008).", topic.urn)
        elif cfg["requireXrayResourcePolicy"] and not granted:
            report(f"SNS topic '{topic.label()}' uses Active tracing, but no aws.xray.ResourcePolicy of the stack "
                   f"allows {SNS_PRINCIPAL} {', '.join(actions)}: set through the API, Active tracing does not "
                   f"create that policy, so SNS cannot write its segments. Add one (components: XRaySampling with "
                   f"traced_topics=TracedTopicsGrant(...)), conditioned on aws:SourceAccount and the topic ARNs.",
                   topic.urn)


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy(
            name="sns-topic-tracing-active", level=EnforcementLevel.MANDATORY, subjects=_topics_feeding_traced,
            check=check_topic_tracing,
            config={
                "requireXrayResourcePolicy": {
                    "type": "boolean", "default": True,
                    "description": "Also require an aws.xray.ResourcePolicy in the stack that lets SNS write "
                                   "segments (false when the account's X-Ray resource policy is managed elsewhere)."},
                "xrayActions": {"type": "array", "items": {"type": "string"},
                                "default": json_list(("xray:PutTraceSegments",)),
                                "description": "Actions that X-Ray resource policy must allow sns.amazonaws.com."},
            },
            describe=lambda d: (f"An SNS topic that delivers to an actively traced Lambda function must use "
                                f"{ACTIVE} tracing" + (", with an X-Ray resource policy letting SNS write segments."
                                                       if d["requireXrayResourcePolicy"] else "."))),
    ]
