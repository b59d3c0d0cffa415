"""Least-privilege execution roles for traced functions: only their own grants plus the X-Ray actions (FR-017, FR-159)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from contract.xray import XRAY_ACTIONS

_ASSUME_LAMBDA = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@dataclass(frozen=True)
class Statement:
    """An IAM Allow statement whose resources may be Outputs (table ARNs, topic ARNs ...)."""

    actions: Sequence[str]
    resources: Sequence[pulumi.Input[str]]
    condition: Optional[dict[str, Any]] = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if not self.actions or not self.resources:
            raise ValueError("an IAM statement needs at least one action and one resource")
        bad = [a for a in self.actions if ":" not in a]
        if bad:
            raise ValueError(f"IAM actions must be 'service:Action', got {bad}")

    def render(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"Effect": "Allow", "Action": list(self.actions), "Resource": list(self.resources)}
        if self.condition:
            doc["Condition"] = self.condition
        return doc


class LambdaRole:
    """Builds the role and its inline policies as children of ``parent``.

    The X-Ray policy is a separate, fully static document so it stays readable at preview time
    (the policy pack's ``xray-write-permissions`` can check it before anything exists)."""

    def __init__(self, name: str, parent: pulumi.Resource, log_group_arn: pulumi.Input[str],
                 statements: Sequence[Statement] = (), tags: Optional[dict] = None):
        child = pulumi.ResourceOptions(parent=parent)
        self.role = aws.iam.Role(f"{name}-role", assume_role_policy=_ASSUME_LAMBDA, tags=tags, opts=child)
        self.xray = aws.iam.RolePolicy(f"{name}-xray", role=self.role.id, opts=child, policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "XRayWrite", "Effect": "Allow", "Action": list(XRAY_ACTIONS), "Resource": "*"}]}))
        self.logs = aws.iam.RolePolicy(f"{name}-logs", role=self.role.id, opts=child, policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                           "Resource": pulumi.Output.concat(log_group_arn, ":*")}]}))
        self.policies = [self.xray, self.logs]
        if statements:
            self.app = aws.iam.RolePolicy(f"{name}-app", role=self.role.id, opts=child, policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17", "Statement": [s.render() for s in statements]}))
            self.policies.append(self.app)
