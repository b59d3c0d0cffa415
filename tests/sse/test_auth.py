"""Issue 10 (Authentication, D16): the configuration stream verifies its bearer JWT against the user pool.

Tokens come from moto's cognito-idp (real RS256 tokens; ``iss`` the AWS issuer of the pool; keys served at
``<endpoint>/<pool id>/.well-known/jwks.json``) or are forged here with PyJWT: with another key, with
moto's own key but expired, unsigned, or HMAC-keyed with the pool's public key. Every refused token is a
401 with RFC 6750's ``WWW-Authenticate`` and its reason, never a stream, and no connection slot stays taken.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from contract import env as names
from contract.data import configuration_key
from handlers.sse.auth import JWKS_TIMEOUT_S
from handlers.sse.settings import ENDPOINT_OVERRIDES, Settings, SettingsError
from standins.otlp_receiver import Blackhole, dead_endpoint
from standins.user_pool import SignedIn, UserPool
from tests.sse.harness import SSE, new_parent, new_root, put_item, trace_header

#: The private key moto signs every pool's tokens with (its JWKS publishes the public half, kid "dummy").
MOTO_KEY = jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json"), algorithm="RS256")
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
#: How long a refused request may take, far above its cost (no key fetch, or one cached): a loaded machine.
ANSWER_S = 10.0


def ticker() -> str:
    return "A" + uuid.uuid4().hex[:5].upper()


@pytest.fixture(scope="module")
def owner(user_pool, users_table) -> tuple[SignedIn, str, str]:
    """A signed-in user with one configuration: (user, configuration id, its ticker)."""
    user, config, sym = user_pool.sign_in(), "watch", ticker()
    users_table.put_item(Item={**configuration_key(user.sub, config), "tickers": [sym], "entity_type": "config"})
    return user, config, sym


def claims_of(user: SignedIn, **changes: object) -> dict:
    """The claims of the user's ID token, changed."""
    return {**jwt.decode(user.id_token, options={"verify_signature": False}), **changes}


def unpadded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256_keyed_with_the_public_key(claims: dict) -> str:
    """The algorithm-confusion token: HS256 whose secret is the pool's public key (PEM), as a verifier that
    trusted the token's ``alg`` would check it. PyJWT refuses to make one, so it is assembled here."""
    pem = MOTO_KEY.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{unpadded(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'dummy'}).encode())}." \
                    f"{unpadded(json.dumps(claims).encode())}"
    return f"{signing_input}.{unpadded(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def nested_header_token(depth: int) -> str:
    """A header whose JSON nests ``depth`` arrays: past the recursion limit of a JSON decoder."""
    header = b'{"kid": ' + b"[" * depth + b"]" * depth + b"}"
    return f"{unpadded(header)}.{unpadded(b'{}')}.c2ln"


def other_client(pool: UserPool) -> UserPool:
    """The same pool through another app client (a token of this pool not issued to the web client)."""
    client = pool.idp.create_user_pool_client(UserPoolId=pool.pool_id, ClientName="other", GenerateSecret=False,
                                              ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])
    return dataclasses.replace(pool, client_id=client["UserPoolClient"]["ClientId"])


#: (case, token from the owner, the pool and the moto server, what the reason says)
REFUSED: list[tuple[str, Callable[[SignedIn, UserPool, object], str], str]] = [
    ("signed by another key", lambda u, p, m: jwt.encode(claims_of(u), OTHER_KEY, "RS256", headers={"kid": "dummy"}),
     "signature does not verify"),
    ("a key id the pool does not have", lambda u, p, m: jwt.encode(claims_of(u), OTHER_KEY, "RS256", headers={"kid": "k2"}),
     "(kid) is not one of the user pool keys"),
    ("expired, signed by the pool's key",
     lambda u, p, m: jwt.encode(claims_of(u, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), MOTO_KEY.key,
                                "RS256", headers={"kid": "dummy"}),
     "has expired"),
    ("issued to another app client of the pool", lambda u, p, m: other_client(p).sign_in().id_token,
     "issued to another app client"),
    ("an access token of another app client", lambda u, p, m: other_client(p).sign_in().access_token,
     "issued to another app client"),
    ("issued by another user pool", lambda u, p, m: UserPool.create(m, "other").sign_in().id_token,
     "not issued by this user pool"),
    ("alg none", lambda u, p, m: jwt.encode(claims_of(u), "", "none", headers={"kid": "dummy"}),
     "must be signed with RS256"),
    ("HS256 keyed with the public key", lambda u, p, m: hs256_keyed_with_the_public_key(claims_of(u)),
     "must be signed with RS256"),
    ("a refresh-like token_use", lambda u, p, m: jwt.encode(claims_of(u, token_use="refresh"), MOTO_KEY.key, "RS256",
                                                            headers={"kid": "dummy"}),
     "token_use must be one of"),
    ("no sub", lambda u, p, m: jwt.encode({k: v for k, v in claims_of(u).items() if k != "sub"}, MOTO_KEY.key,
                                          "RS256", headers={"kid": "dummy"}),
     "has no sub claim"),
    ("garbage", lambda u, p, m: "not-a-jwt", "is not a JWT"),
    ("a header nested past the JSON recursion limit", lambda u, p, m: nested_header_token(2000),
     "is not a JWT"),
]


def test_issue10_a_verified_id_or_access_token_streams_the_users_configuration(sse_app, owner, items_table):
    """The token's ``sub`` is the user (the dashboard's key): both of Cognito's tokens from the web client
    open the stream of that user's configuration, filtered to its tickers."""
    user, config, sym = owner
    for token in (user.id_token, user.access_token):
        headers = {"Authorization": f"Bearer {token}", "X-Amzn-Trace-Id": trace_header(new_root(), new_parent())}
        with SSE(f"{sse_app.url}/api/v2/configurations/{config}/stream", headers) as s:
            assert s.response.status_code == 200, s.response.read()[:300]
            s.until(lambda e: e.event == "connected", 5)
            put_item(items_table, sym)
            assert s.until(lambda e: e.event == "sentiment", 10).json["tickers"] == [sym]


@pytest.mark.parametrize("case, make, reason", REFUSED, ids=[c for c, _, _ in REFUSED])
def test_issue10_a_token_that_does_not_verify_is_401_with_its_reason(sse_app, owner, user_pool, moto, case, make,
                                                                     reason):
    """Signature (the pool's JWKS, RS256 only), issuer, app client by ``token_use``, expiry, a user: each
    failure is a 401 whose ``WWW-Authenticate`` names ``invalid_token`` and the reason, and no slot stays taken."""
    user, config, _ = owner
    response = httpx.get(f"{sse_app.url}/api/v2/configurations/{config}/stream", timeout=ANSWER_S,
                         headers={"Authorization": f"Bearer {make(user, user_pool, moto)}"})
    assert response.status_code == 401, (case, response.status_code, response.text[:300])
    challenge = response.headers["www-authenticate"]
    prefix = 'Bearer error="invalid_token", error_description="'
    assert challenge.startswith(prefix) and challenge.endswith('"') and reason in challenge, challenge
    description = challenge[len(prefix):-1]  # RFC 6750: printable ASCII without a quote or a backslash
    assert description and all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description), description
    assert reason in response.json()["error"]
    assert httpx.get(f"{sse_app.url}/api/v2/stream/status").json()["connections"] == 0


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Token abc"])
def test_issue10_no_bearer_token_is_401_with_a_bare_challenge(sse_app, owner, authorization):
    """RFC 6750 section 3.1: a request without a bearer token gets the challenge without an error code."""
    _, config, _ = owner
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.get(f"{sse_app.url}/api/v2/configurations/{config}/stream", headers=headers, timeout=ANSWER_S)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["error"]
    assert httpx.get(f"{sse_app.url}/api/v2/stream/status").json()["connections"] == 0


def test_issue10_the_token_is_checked_before_the_request_values(sse_app, owner):
    """Authentication comes first: a bad configuration id without a token is a 401, not a 400."""
    assert httpx.get(f"{sse_app.url}/api/v2/configurations/bad%20id/stream").status_code == 401


@pytest.mark.parametrize("keys", ["refused", "never answered"])
def test_issue10_keys_that_cannot_be_fetched_are_503_within_the_fetch_timeout(app_factory, receiver, owner, keys):
    """The token may be fine: a JWKS endpoint that refuses or never answers is a 503 with the reason and a
    Retry-After, within the fetch's bounded timeout; the slot is never taken; then the backoff answers at once."""
    user, config, _ = owner
    with Blackhole() as hole:
        endpoint = dead_endpoint() if keys == "refused" else hole.endpoint
        app = app_factory(receiver.endpoint, AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=endpoint)
        url = f"{app.url}/api/v2/configurations/{config}/stream"
        headers = {"Authorization": f"Bearer {user.id_token}"}
        started = time.monotonic()
        response = httpx.get(url, headers=headers, timeout=4 * JWKS_TIMEOUT_S)
        assert response.status_code == 503, response.text[:300]
        # the fetch timeout plus the request's own cost (well under a second): a 2x margin on a loaded machine
        assert time.monotonic() - started < 2 * (JWKS_TIMEOUT_S + 1.0)
        assert "could not be fetched" in response.json()["error"] and int(response.headers["retry-after"]) >= 1
        again = httpx.get(url, headers=headers, timeout=4 * JWKS_TIMEOUT_S)
        assert again.status_code == 503 and "recent fetch failed" in again.json()["error"]
        assert httpx.get(f"{app.url}/api/v2/stream/status").json()["connections"] == 0
        app.close()


# -- settings: the pool the app trusts ---------------------------------------------------------------------
def _settings(monkeypatch, **changes: str | None):
    from tests.sse.harness import function_environment

    env = function_environment("http://127.0.0.1:9", {names.ITEMS_TABLE: "i", names.USERS_TABLE: "u"},
                               "http://127.0.0.1:9")
    for key in [*env, *ENDPOINT_OVERRIDES]:
        monkeypatch.delenv(key, raising=False)
    for key, value in {**env, "AWS_ENDPOINT_URL": None, **changes}.items():
        if value is not None:
            monkeypatch.setenv(key, value)
    return Settings.from_env()


@pytest.mark.parametrize("missing", [names.COGNITO_ISSUER, names.COGNITO_CLIENT_ID])
def test_issue10_the_app_refuses_to_start_without_its_user_pool(monkeypatch, missing):
    with pytest.raises(SettingsError, match=missing):
        _settings(monkeypatch, **{missing: None})


@pytest.mark.parametrize("issuer", ["http://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc",
                                    "https://cognito-idp.us-east-1.amazonaws.com/",
                                    "https://evil.example.com/us-east-1_Abc", "us-east-1_Abc"])
def test_issue10_an_issuer_not_of_cognitos_form_is_a_clear_startup_error(monkeypatch, issuer):
    with pytest.raises(SettingsError, match=r"COGNITO_ISSUER=.* is not https://cognito-idp\.<region>"):
        _settings(monkeypatch, COGNITO_ISSUER=issuer)


def test_issue10_keys_come_from_the_issuer_on_aws_and_from_the_endpoint_override_off_it(monkeypatch):
    """On AWS the JWKS is under the issuer; with the SDKs' endpoint override (moto) under the endpoint, and a
    Cognito-specific override wins over the global one."""
    issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    assert _settings(monkeypatch, COGNITO_ISSUER=issuer).jwks_url == f"{issuer}/.well-known/jwks.json"
    assert _settings(monkeypatch, COGNITO_ISSUER=issuer, AWS_ENDPOINT_URL="http://127.0.0.1:5000/").jwks_url == \
        "http://127.0.0.1:5000/eu-west-1_AbC123/.well-known/jwks.json"
    both = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", ENDPOINT_OVERRIDES[0]: "http://127.0.0.1:6000"}
    assert _settings(monkeypatch, COGNITO_ISSUER=issuer, **both).jwks_url == \
        "http://127.0.0.1:6000/eu-west-1_AbC123/.well-known/jwks.json"
