"""Cost: a budget notifies as X-Ray spend crosses each threshold (FR-038, D11 in docs/decisions.md)."""
from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationPolicy

from contract import cost

from .config import Config, json_list
from .define import Stack, stack_policy
from .stack_index import Node, StackIndex
from .values import UNKNOWN, as_list, as_number


def _budgets(index: StackIndex, cfg: Config) -> list[Node]:
    return index.budgets


def _dollars(amounts: Iterable[float]) -> str:
    return ", ".join(f"${a:g}" for a in amounts)


def _budget_amounts(budget: Node) -> tuple[set[float], bool]:
    """(the monthly amounts in USD at which this budget notifies, whether some amount is unknown)."""
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
        kind = note.get("thresholdType") or "PERCENTAGE"
        if threshold is UNKNOWN or kind is UNKNOWN:
            unknown = True
        elif threshold is None:
            continue
        elif kind == "ABSOLUTE_VALUE":
            amounts.add(round(threshold, 2))
        elif limit is UNKNOWN:
            unknown = True
        elif limit is not None:
            amounts.add(round(limit * threshold / 100.0, 2))
    return amounts, unknown


def check_cost_budget(stack: Stack, report: ReportViolation) -> None:
    wanted = {round(float(t), 2) for t in stack.config["thresholdsUsd"]}
    budgets = stack.subjects
    covered: set[float] = set()
    unknown = False
    for budget in budgets:
        amounts, maybe = _budget_amounts(budget)
        covered |= amounts
        unknown |= maybe
    missing = sorted(wanted - covered)
    if not missing or unknown:
        return
    have = f"the budgets notify at {_dollars(sorted(covered))}" if budgets else "the stack has no aws.budgets.Budget"
    report(f"No budget notifies at {_dollars(missing)} per month ({have}). Add an aws.budgets.Budget on the "
           f"'{cost.XRAY_BUDGET_SERVICE}' service cost with notifications at {_dollars(sorted(wanted))} "
           f"(FR-038, SC-016).", budgets[0].urn if budgets else None)


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy(
            name="tracing-cost-budget", level=EnforcementLevel.ADVISORY, subjects=_budgets, check=check_cost_budget,
            config={"thresholdsUsd": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0},
                                      "default": json_list(cost.BUDGET_THRESHOLDS_USD),
                                      "description": "Monthly amounts that must notify (FR-038, D11)."}},
            describe=lambda d: f"A budget must notify at {_dollars(d['thresholdsUsd'])} of monthly X-Ray cost."),
    ]
