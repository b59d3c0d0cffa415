"""The configuration stream's caller: the user of a Cognito user pool token, verified here (D16, issue 10).

The global stream is public; a configuration belongs to one user, so its stream needs
``Authorization: Bearer <token>`` with a token of the program's pool and app client. PyJWT does the
verification (``PyJWKClient`` fetches and caches the pool's JWKS; ``jwt.decode`` checks the signature, the
issuer, the expiry): what is Cognito's is checked here, as AWS's "Verifying a JSON Web Token" lists it
(docs/aws-facts.md): the algorithm is RS256 and nothing else (so ``alg: none`` and an HS256 token keyed with
the public key are refused before any key is looked up), ``token_use`` is ``id`` or ``access``, and the
app client is the ``aud`` of an ID token and the ``client_id`` of an access token. The user is the ``sub``
claim, the key the dashboard's configurations use (``contract.api.USER_CLAIM``).

A token that fails is ``Unauthorized`` (401 with RFC 6750's ``WWW-Authenticate``); keys that cannot be
fetched are ``KeysUnavailable`` (503): the caller's token may be fine. ``verify`` may fetch keys (bounded by
``JWKS_TIMEOUT_S``), so the app runs it in its IO pool, before a stream takes a connection slot.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import jwt

from contract.api import USER_CLAIM

#: Cognito signs user pool tokens with RS256 only; an allow-list of one (never the token's own ``alg``).
ALGORITHM = "RS256"
#: The claim that names the app client, by ``token_use``: Cognito's access tokens carry no ``aud``.
CLIENT_CLAIM = {"id": "aud", "access": "client_id"}
#: What every accepted token carries; a token without one is refused with the claim's name.
REQUIRED_CLAIMS = ("iss", "exp", "iat", "token_use", USER_CLAIM)
#: A fetch of the pool's keys may hold a request at most this long (then 503), never a stream's life.
JWKS_TIMEOUT_S = 3.0
#: How long fetched keys are used before they are fetched again. Cognito's keys change rarely, and a token
#: with a key id not in the set fetches it again anyway (at most once per ``UNKNOWN_KEY_COOLDOWN_S``).
JWKS_LIFESPAN_S = 3600.0
#: A token naming an unknown key refetches the set at most this often: random key ids cannot drive a fetch per request.
UNKNOWN_KEY_COOLDOWN_S = 30.0
#: After a failed fetch, requests answer 503 for this long without fetching: an outage does not queue every
#: request behind a full fetch timeout (the client library holds one lock while it fetches).
FETCH_BACKOFF_S = 5.0
#: Allowed clock difference between Cognito and this function for ``exp`` and ``iat``.
CLOCK_SKEW_S = 30.0
#: Cognito's ``sub`` is a UUID; a user id also becomes part of a DynamoDB key, so its form is bounded.
_USER_ID = re.compile(r"[A-Za-z0-9_\-]{8,64}")
#: The JWKS document under the issuer (and under a Cognito endpoint override, at ``/<pool id>``).
JWKS_PATH = "/.well-known/jwks.json"


class Unauthorized(Exception):
    """The request does not prove a user: a 401. ``description`` is RFC 6750's ``error_description``
    (printable ASCII without quotes or backslashes); ``error`` is None when no token was offered at all."""

    def __init__(self, description: str, error: Optional[str] = "invalid_token"):
        super().__init__(description)
        self.description = description
        self.error = error

    @property
    def www_authenticate(self) -> str:
        """RFC 6750 section 3: no error code when the request carried no bearer token."""
        if self.error is None:
            return "Bearer"
        return f'Bearer error="{self.error}", error_description="{self.description}"'


class KeysUnavailable(Exception):
    """The pool's signing keys could not be fetched: a 503 (the token was not judged)."""

    retry_after_s = FETCH_BACKOFF_S


@dataclass(frozen=True)
class Identity:
    user_id: str
    token_use: str


def bearer_token(authorization: Optional[str]) -> str:
    """The token of ``Authorization: Bearer <token>``; no header or another scheme is ``Unauthorized``."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required: Authorization: Bearer <Cognito ID or access token>", error=None)
    return token.strip()


class TokenVerifier:
    """Verifies tokens of one user pool (``issuer``) and app client; keys from ``jwks_url``, cached."""

    def __init__(self, issuer: str, client_id: str, jwks_url: str, timeout_s: float = JWKS_TIMEOUT_S):
        self.issuer, self.client_id, self.jwks_url = issuer, client_id, jwks_url
        self._keys = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=JWKS_LIFESPAN_S, timeout=timeout_s,
                                     cooldown_duration=UNKNOWN_KEY_COOLDOWN_S)
        self._lock = threading.Lock()
        self._unavailable_until = 0.0

    def verify(self, authorization: Optional[str]) -> Identity:
        """The verified user of an ``Authorization`` header value. Blocking when the keys must be fetched."""
        token = bearer_token(authorization)
        key = self._signing_key(_header(token))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[ALGORITHM], issuer=self.issuer, leeway=CLOCK_SKEW_S,
                options={"require": list(REQUIRED_CLAIMS), "verify_aud": False})  # the client is checked below
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("the token signature does not verify with the user pool keys") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the token was not issued by this user pool") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the token has no {exc.claim} claim") from None
        except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
            raise Unauthorized("the token is not valid yet (iat or nbf in the future)") from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError):
            raise Unauthorized("the token is not a valid JWT") from None
        return self._identity(claims)

    def _identity(self, claims: dict[str, Any]) -> Identity:
        token_use = claims["token_use"]
        if token_use not in CLIENT_CLAIM:
            raise Unauthorized(f"token_use must be one of {sorted(CLIENT_CLAIM)}")
        if claims.get(CLIENT_CLAIM[token_use]) != self.client_id:
            raise Unauthorized("the token was issued to another app client")
        user = claims[USER_CLAIM]
        if not isinstance(user, str) or not _USER_ID.fullmatch(user):
            raise Unauthorized(f"the token {USER_CLAIM} claim is not a user id")
        return Identity(user, token_use)

    def _signing_key(self, header: dict[str, Any]) -> jwt.PyJWK:
        cache = self._keys.jwk_set_cache
        with self._lock:  # back off only when a fetch is due: fresh cached keys still serve
            if time.monotonic() < self._unavailable_until and (cache is None or cache.get() is None):
                raise KeysUnavailable("the user pool signing keys are unavailable (a recent fetch failed); retry later")
        try:
            self._keys.get_signing_keys()  # the set itself (cached): a failure here is the pool's, not the token's
        except (jwt.PyJWTError, ValueError) as exc:  # unreachable, or not a key set with signing keys
            raise self._unavailable(exc) from None
        try:
            return self._keys.get_signing_key(header["kid"])  # an unknown id refetches the set (cooldown)
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError) as exc:
            raise self._unavailable(exc) from None
        except jwt.PyJWKClientError:
            raise Unauthorized("the token key id (kid) is not one of the user pool keys") from None

    def _unavailable(self, exc: Exception) -> KeysUnavailable:
        with self._lock:
            self._unavailable_until = time.monotonic() + FETCH_BACKOFF_S
        return KeysUnavailable(f"the user pool signing keys could not be fetched from {self.jwks_url} "
                               f"({type(exc).__name__}); retry later")


def _header(token: str) -> dict[str, Any]:
    """The token's header, checked before any key is looked up: RS256 and a key id."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):  # also JSON nested past the recursion limit
        raise Unauthorized("the token is not a JWT (header.payload.signature, base64url)") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"the token must be signed with {ALGORITHM}")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise Unauthorized("the token header has no key id (kid)")
    return header
