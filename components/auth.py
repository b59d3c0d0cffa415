"""``UserDirectory``: the Cognito user pool and the web client's app client (decision D16).

The dashboard API's user routes are authorized against this pool by API Gateway, and the SSE configuration
stream verifies the same pool's tokens itself, so both trust one issuer and one audience.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from contract.naming import resource_name

TYPE = "sentiment:observability:UserDirectory"


@dataclass
class UserDirectoryArgs:
    environment: str
    region: str
    access_token_minutes: int = 60
    refresh_token_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 5 <= self.access_token_minutes <= 1440:
            raise ValueError(f"access_token_minutes must be 5..1440 (Cognito's range), got {self.access_token_minutes}")
        if not 1 <= self.refresh_token_days <= 3650:
            raise ValueError(f"refresh_token_days must be 1..3650, got {self.refresh_token_days}")


class UserDirectory(pulumi.ComponentResource):
    pool: aws.cognito.UserPool
    client: aws.cognito.UserPoolClient
    issuer: pulumi.Output[str]

    def __init__(self, name: str, args: UserDirectoryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.pool = aws.cognito.UserPool(
            f"{name}-pool", name=resource_name(args.environment, "users"), username_attributes=["email"],
            auto_verified_attributes=["email"], mfa_configuration="OPTIONAL",
            software_token_mfa_configuration={"enabled": True},
            password_policy={"minimum_length": 12, "require_lowercase": True, "require_uppercase": True,
                             "require_numbers": True, "require_symbols": False, "temporary_password_validity_days": 3},
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            deletion_protection="ACTIVE", tags=dict(args.tags), opts=child)
        # A browser client: no secret (it could not keep one), SRP sign-in, tokens revocable, and a user that
        # does not exist is indistinguishable from a wrong password.
        self.client = aws.cognito.UserPoolClient(
            f"{name}-web", name=resource_name(args.environment, "web"), user_pool_id=self.pool.id,
            generate_secret=False, explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED", enable_token_revocation=True,
            access_token_validity=args.access_token_minutes, id_token_validity=args.access_token_minutes,
            refresh_token_validity=args.refresh_token_days,
            token_validity_units={"access_token": "minutes", "id_token": "minutes", "refresh_token": "days"},
            opts=child)
        self.issuer = pulumi.Output.concat("https://cognito-idp.", args.region, ".amazonaws.com/", self.pool.id)
        self.register_outputs({"userPoolId": self.pool.id, "clientId": self.client.id, "issuer": self.issuer})
