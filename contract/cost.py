"""The X-Ray cost budget's notification amounts (decision D11)."""
from __future__ import annotations

#: Monthly X-Ray spend, in USD, at which the budget notifies the alarm topic.
BUDGET_THRESHOLDS_USD: tuple[float, ...] = (10.0, 25.0, 50.0)
#: The budget's cost filter: the service name AWS Budgets uses for X-Ray.
XRAY_BUDGET_SERVICE = "AWS X-Ray"
#: The ServiceName dimension of ``AWS/Billing EstimatedCharges`` for X-Ray.
XRAY_BILLING_SERVICE = "AWSXRay"
