"""A Cognito user pool and app client in a moto server, shaped like ``UserDirectory``'s, and its users signed in.

moto's cognito-idp issues real RS256 tokens (``iss`` is the AWS issuer ``https://cognito-idp.<region>.
amazonaws.com/<pool id>``, whatever endpoint served them) and serves the verifying keys at
``<endpoint>/<pool id>/.well-known/jwks.json``. The client also allows ``USER_PASSWORD_AUTH`` so a test or the
demo can sign in without SRP.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

#: A password that passes the program's pool policy (12 characters, upper, lower, digits).
DEFAULT_PASSWORD = "Standin-Passw0rd"


@dataclass(frozen=True)
class SignedIn:
    """A user of the pool: their ``sub`` and the tokens the sign-in returned."""

    sub: str
    id_token: str
    access_token: str


@dataclass(frozen=True)
class UserPool:
    idp: Any  # a boto3 cognito-idp client of the moto server
    pool_id: str
    client_id: str
    region: str

    @classmethod
    def create(cls, moto: Any, name: str = "users") -> UserPool:
        """A new pool (email usernames, as the program's) with one browser app client, in ``moto`` (a
        ``MotoServer``)."""
        idp = moto.client("cognito-idp")
        pool = idp.create_user_pool(PoolName=f"{name}-{uuid.uuid4().hex[:8]}", UsernameAttributes=["email"],
                                    AutoVerifiedAttributes=["email"])["UserPool"]
        client = idp.create_user_pool_client(
            UserPoolId=pool["Id"], ClientName="web", GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"])
        return cls(idp, pool["Id"], client["UserPoolClient"]["ClientId"], moto.region)

    @property
    def issuer(self) -> str:
        """What ``UserDirectory.issuer`` is for this pool, and the ``iss`` of its tokens."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    def sign_in(self, email: str = "", password: str = DEFAULT_PASSWORD) -> SignedIn:
        """A new confirmed user (``email``, or a fresh one) signed in through the app client."""
        email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
        self.idp.admin_create_user(UserPoolId=self.pool_id, Username=email, MessageAction="SUPPRESS",
                                   UserAttributes=[{"Name": "email", "Value": email},
                                                   {"Name": "email_verified", "Value": "true"}])
        self.idp.admin_set_user_password(UserPoolId=self.pool_id, Username=email, Password=password, Permanent=True)
        tokens = self.idp.initiate_auth(ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": email, "PASSWORD": password})["AuthenticationResult"]
        user = self.idp.admin_get_user(UserPoolId=self.pool_id, Username=email)
        sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
        return SignedIn(sub, tokens["IdToken"], tokens["AccessToken"])
