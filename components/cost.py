"""``CostGuard``: a monthly X-Ray cost budget with notifications at fixed amounts (FR-038, SC-016, D11)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from contract.cost import BUDGET_THRESHOLDS_USD, XRAY_BUDGET_SERVICE

TYPE = "sentiment:observability:CostGuard"


@dataclass
class CostGuardArgs:
    name: str
    alarm_topic_arn: pulumi.Input[str]
    thresholds_usd: Sequence[float] = BUDGET_THRESHOLDS_USD
    service: str = XRAY_BUDGET_SERVICE
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.thresholds_usd or any(t <= 0 for t in self.thresholds_usd):
            raise ValueError(f"CostGuard {self.name}: thresholds must be positive amounts in USD")
        if list(self.thresholds_usd) != sorted(set(self.thresholds_usd)):
            raise ValueError(f"CostGuard {self.name}: thresholds must be strictly increasing, got {list(self.thresholds_usd)}")


class CostGuard(pulumi.ComponentResource):
    def __init__(self, name: str, args: CostGuardArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        limit = max(args.thresholds_usd)
        notifications: list[aws.budgets.BudgetNotificationArgsDict] = [
            {"comparison_operator": "GREATER_THAN", "notification_type": "ACTUAL", "threshold": float(t),
             "threshold_type": "ABSOLUTE_VALUE", "subscriber_sns_topic_arns": [args.alarm_topic_arn]}
            for t in args.thresholds_usd]
        notifications.append({"comparison_operator": "GREATER_THAN", "notification_type": "FORECASTED",
                              "threshold": 100.0, "threshold_type": "PERCENTAGE",
                              "subscriber_sns_topic_arns": [args.alarm_topic_arn]})
        self.budget = aws.budgets.Budget(
            name, name=args.name, budget_type="COST", limit_amount=f"{limit:.2f}", limit_unit="USD",
            time_unit="MONTHLY", cost_filters=[{"name": "Service", "values": [args.service]}],
            notifications=notifications, tags=dict(args.tags), opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"budgetName": self.budget.name})
