"""Cost: a monthly COST budget on X-Ray notifies as spend crosses each threshold (FR-038, D11 in
docs/decisions.md), judged only in stacks that trace (the others spend nothing on X-Ray)."""
from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationPolicy

from contract import cost

from .config import Config, json_list
from .define import Stack, stack_policy
from .stack_index import Node, StackIndex
from .values import UNKNOWN, as_list, as_number, describe

#: What AWS Budgets calls a spend budget, and the period the thresholds are per.
COST_BUDGET = "COST"
MONTHLY = "MONTHLY"
#: The cost filter that selects one service's spend.
SERVICE_FILTER = "Service"
EXPRESSION_SERVICE_KEY = "SERVICE"   # the same filter in a budget's filter_expression


def _budgets(index: StackIndex, cfg: Config) -> list[Node]:
    return index.budgets


def _dollars(amounts: Iterable[float]) -> str:
    return ", ".join(f"${a:g}" for a in amounts)


def _traces(index: StackIndex) -> bool:
    """Whether the stack sends anything to X-Ray: a traced function, a traced stage, topic or state machine, or an
    X-Ray resource (a stack without any spends nothing on X-Ray, so a budget on it is noise)."""
    return bool(index.traced_functions or index.traced_services or index.xray_resources)


def _why_not_counted(budget: Node, service: str) -> str | None:
    """Why this budget cannot be the X-Ray budget (not a monthly COST budget on the service with a limit); None if
    it can (an unknown value may be right)."""
    props = budget.props
    for key, py, wanted in (("budgetType", "budget_type", COST_BUDGET), ("timeUnit", "time_unit", MONTHLY)):
        if props.get(key) not in (wanted, UNKNOWN):
            return f"{py} is {describe(props.get(key))}, not '{wanted}'"
    limit = as_number(props.get("limitAmount"))
    if limit is not UNKNOWN and (limit is None or limit <= 0):
        return f"limit_amount is {describe(props.get('limitAmount'))}"
    if service and not _selects(props, service):
        return f"it has no cost filter {SERVICE_FILTER}={service!r}"
    return None


def _selects(props: dict, service: str) -> bool:
    """Whether the budget's ``cost_filters`` (or its ``filter_expression``) select ``service`` (unknown: may)."""
    filters = as_list(props.get("costFilters"))
    if filters is UNKNOWN:
        return True
    values = [as_list(f.get("values")) for f in filters if isinstance(f, dict) and f.get("name") in
              (SERVICE_FILTER, UNKNOWN)]
    return any(v is UNKNOWN or service in v or UNKNOWN in v for v in values) or _expression_selects(
        props.get("filterExpression"), service)


def _expression_selects(expression: object, service: str) -> bool:
    """A filter expression with a SERVICE dimension on ``service``, alone or among its and/or operands (a ``not``
    never selects it)."""
    if expression is UNKNOWN:
        return True
    if not isinstance(expression, dict):
        return False
    dims = expression.get("dimensions")
    if isinstance(dims, dict) and dims.get("key") in (EXPRESSION_SERVICE_KEY, UNKNOWN):
        values = as_list(dims.get("values"))
        if values is UNKNOWN or service in values or UNKNOWN in values:
            return True
    operands = [as_list(expression.get(key)) for key in ("ands", "ors")]
    return any(o is UNKNOWN or any(_expression_selects(e, service) for e in o) for o in operands)


def _subscribed(note: dict) -> bool:
    """A notification tells someone: an SNS topic or an e-mail address (an unknown list may hold one)."""
    for key in ("subscriberSnsTopicArns", "subscriberEmailAddresses"):
        value = as_list(note.get(key))
        if value is UNKNOWN or value:
            return True
    return False


def _budget_amounts(budget: Node) -> tuple[set[float], bool]:
    """(the monthly amounts in USD at which this budget notifies someone, whether some amount is unknown)."""
    limit = as_number(budget.props.get("limitAmount"))
    notes = as_list(budget.props.get("notifications"))
    if notes is UNKNOWN:
        return set(), True
    amounts: set[float] = set()
    unknown = False
    for note in notes:
        if not isinstance(note, dict):
            unknown = True
            continue
        threshold = as_number(note.get("threshold"))
        kind = note.get("thresholdType")
        kind = "PERCENTAGE" if kind is None else kind  # AWS's default; an unknown kind stays unknown
        if threshold is UNKNOWN or kind is UNKNOWN:
            unknown = True
        elif threshold is None or not _subscribed(note):
            continue
        elif kind == "ABSOLUTE_VALUE":
            amounts.add(round(threshold, 2))
        elif limit is UNKNOWN:
            unknown = True
        elif limit is not None:
            amounts.add(round(limit * threshold / 100.0, 2))
    return amounts, unknown


def check_cost_budget(stack: Stack, report: ReportViolation) -> None:
    if not _traces(stack.index):
        return
    wanted = {round(float(t), 2) for t in stack.config["thresholdsUsd"]}
    service = stack.config["service"]
    budgets = stack.subjects
    covered: set[float] = set()
    unknown = False
    rejected: list[str] = []
    for budget in budgets:
        why = _why_not_counted(budget, service)
        if why:
            rejected.append(f"'{budget.label()}' does not count: {why}")
            continue
        amounts, maybe = _budget_amounts(budget)
        covered |= amounts
        unknown |= maybe
    missing = sorted(wanted - covered)
    if not missing or unknown:
        return
    have = ("the stack has no aws.budgets.Budget" if not budgets else
            "; ".join(rejected + ([f"the others notify at {_dollars(sorted(covered))}"] if covered else [])))
    report(f"No monthly COST budget on {service or 'the account'} notifies anyone at {_dollars(missing)} per month "
           f"({have}). Add an aws.budgets.Budget(budget_type='{COST_BUDGET}', time_unit='{MONTHLY}', limit_amount=..., "
           f"cost_filters=[{{'name': '{SERVICE_FILTER}', 'values': ['{service}']}}]) with notifications at "
           f"{_dollars(sorted(wanted))} sent to a topic or an address (FR-038, SC-016).",
           budgets[0].urn if budgets else None)


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy(
            name="tracing-cost-budget", level=EnforcementLevel.ADVISORY, subjects=_budgets, check=check_cost_budget,
            config={"thresholdsUsd": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0},
                                      "default": json_list(cost.BUDGET_THRESHOLDS_USD),
                                      "description": "Monthly amounts that must notify (FR-038, D11)."},
                    "service": {"type": "string", "default": cost.XRAY_BUDGET_SERVICE,
                                "description": "The Service cost filter the budget must have ('' accepts a budget "
                                               "on the whole account)."}},
            describe=lambda d: (f"A stack that traces must have a monthly COST budget on {d['service'] or 'the account'} "
                                f"that notifies at {_dollars(d['thresholdsUsd'])}.")),
    ]
