"""IAM fit: was every AWS call a handler made allowed by the role the program gave it — action, resource, condition?

Each recorded call is turned into the IAM action, the ARNs it touches and the condition keys AWS evaluates for it
(e.g. ``cloudwatch:namespace`` on PutMetricData), and judged against the role's declared statements with moto's own
statement matcher (``moto.iam.access_control.IAMPolicyStatement``: actions and resources with wildcards,
``StringEquals`` conditions). A statement whose condition uses an operator that matcher cannot evaluate, or a key
the call does not supply, never counts as allowing: the judge fails closed rather than guessing.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from moto.iam.access_control import IAMPolicyStatement, PermissionResult

REGION, ACCOUNT = "us-east-1", "123456789012"
JUDGED_OPERATORS = {"StringEquals"}
#: Operations authorized by an action of another name (docs/aws-facts.md: sns:Publish grants PublishBatch).
ACTION_OF = {"sns:PublishBatch": "sns:Publish"}
#: DynamoDB transactions are authorized per item by the actions of their parts.
TRANSACTION_PARTS = {
    "TransactWriteItems": {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                           "ConditionCheck": "ConditionCheckItem"},
    "TransactGetItems": {"Get": "GetItem"},
}


@dataclass(frozen=True)
class Access:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        ctx = ", ".join(f"{k}={v}" for k, v in self.context)
        return f"{self.action} on {self.resource}" + (f" ({ctx})" if ctx else "")


@dataclass(frozen=True)
class Denial:
    function: str
    role: str
    access: Access
    operation: str

    def describe(self) -> str:
        return f"{self.function}: {self.access.describe()} is not allowed by role {self.role} (call {self.operation})"


def _table(name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def accesses(call: dict, secret_arns: dict[str, str]) -> list[Access]:
    """The IAM requests behind one recorded call."""
    service, op, p = call["service"], call["operation"], call.get("params") or {}
    action = ACTION_OF.get(f"{service}:{op}", f"{service}:{op}")
    if service == "dynamodb":
        tables: list[tuple[str, str | None]] = []
        if "TableName" in p:
            tables.append((p["TableName"], p.get("IndexName")))
        for name in (p.get("RequestItems") or {}):
            tables.append((name, None))
        if op in TRANSACTION_PARTS:  # authorized item by item, by the underlying actions (docs/aws-facts.md)
            return [Access(f"dynamodb:{TRANSACTION_PARTS[op][kind]}", _table(part["TableName"]))
                    for item in p.get("TransactItems") or [] for kind, part in item.items()
                    if isinstance(part, dict) and kind in TRANSACTION_PARTS[op]] or [Access(action, "*")]
        return [Access(action, _table(t) + (f"/index/{i}" if i else "")) for t, i in tables] or [Access(action, "*")]
    if service == "sns":
        return [Access(action, p.get("TopicArn") or p.get("TargetArn") or "*")]
    if service == "secretsmanager":
        secret = p.get("SecretId", "*")
        return [Access(action, secret_arns.get(secret, secret))]
    if service == "ssm":
        name = p.get("Name", "*")
        return [Access(action, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}" if name != "*" else "*")]
    if service == "cloudwatch" and op == "PutMetricData":
        return [Access(action, "*", (("cloudwatch:namespace", p.get("Namespace", "")),))]
    if service == "sqs" and "QueueUrl" in p:
        return [Access(action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{p['QueueUrl'].rstrip('/').rsplit('/', 1)[-1]}")]
    return [Access(action, "*")]


def _statements(documents: Iterable[dict]) -> list[dict]:
    out: list[dict] = []
    for doc in documents:
        st = doc.get("Statement", [])
        out.extend(st if isinstance(st, list) else [st])
    return out


def allowed(access: Access, documents: Iterable[dict]) -> bool:
    """Allowed when some Allow statement matches and no Deny statement does (IAM's own rule)."""
    context = dict(access.context)
    allow = False
    for st in _statements(documents):
        condition = st.get("Condition") or {}
        if any(op not in JUDGED_OPERATORS for op in condition):
            judged = False  # an operator the matcher cannot evaluate: never read as allowing
        else:
            keys = {k for values in condition.values() for k in values}
            judged = keys <= set(context)
        result = IAMPolicyStatement(st).is_action_permitted(access.action, access.resource,
                                                            incoming_condition_values=context)
        if st.get("Effect") == "Deny" and result == PermissionResult.DENIED and judged:
            return False
        if st.get("Effect") == "Allow" and result == PermissionResult.PERMITTED and judged:
            allow = True
    return allow


def judge(function: str, role: str, calls: Iterable[dict], documents: list[dict],
          secret_arns: dict[str, str]) -> tuple[int, list[Denial]]:
    """(number of accesses judged, the denials)."""
    count, denials = 0, []
    for call in calls:
        for access in accesses(call, secret_arns):
            count += 1
            if not allowed(access, documents):
                denials.append(Denial(function, role, access, f"{call['service']}.{call['operation']}"))
    return count, denials


def drop_action(documents: list[dict], action: str) -> list[dict]:
    """The same documents with ``action`` removed from every statement (to prove the judge notices)."""
    out = []
    for doc in documents:
        statements = []
        for st in _statements([doc]):
            acts = st.get("Action", [])
            acts = [acts] if isinstance(acts, str) else list(acts)
            kept = [a for a in acts if a != action]
            if kept:
                statements.append({**st, "Action": kept})
        out.append({**doc, "Statement": statements})
    return out


