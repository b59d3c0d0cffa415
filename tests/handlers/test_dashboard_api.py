"""The dashboard API as a browser and API Gateway see it: who the user is, CORS, and its routes (D16).

Events are shaped as API Gateway's REST proxy integration sends them for the contract's routes, with the claims
its Cognito authorizer verified on an authorized route (``api_event`` is checked against Powertools' model of
that event below).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel

from contract import env
from contract.api import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS, ROUTES, Route
from tests.handlers.conftest import FOREIGN_ORIGIN, HANDLERS, IMPORT_ENV, ORIGINS, H, api_event, user_claims

ROOT = HANDLERS.parent


def _config(world, user: str, config_id: str, tickers: list[str]) -> None:
    world.aws.client("dynamodb").put_item(TableName=world.env[env.USERS_TABLE], Item={
        "PK": {"S": f"USER#{user}"}, "SK": {"S": f"CONFIG#{config_id}"}, "name": {"S": f"{user}'s list"},
        "tickers": {"L": [{"S": t} for t in tickers]}, "status": {"S": "active"}})


def _headers(response: dict) -> dict[str, str]:
    return {k.lower(): ",".join(v) for k, v in response.get("multiValueHeaders", {}).items()}


def _concrete(route: Route) -> str:
    return "/" + "/".join("AAPL" if seg.startswith("{") else seg for seg in route.segments)


def test_test_events_have_api_gateways_rest_proxy_shape():
    """The events these tests send validate as API Gateway REST proxy events (Powertools' model of them)."""
    for route in ROUTES:
        event = api_event(_concrete(route), {"limit": "5"}, headers={"Origin": ORIGINS[0]},
                          claims=user_claims("u1") if route.authorized else None)
        model = APIGatewayProxyEventModel.model_validate(event)
        assert model.resource == route.path and model.requestContext.resourcePath == route.path
        assert bool(model.requestContext.authorizer) == route.authorized


# -- the user: verified claims, never a header ------------------------------------------------------------------------
def test_configuration_is_the_verified_users_never_the_headers(lam, world):
    """D16: the user is the ``sub`` of the token API Gateway's Cognito authorizer verified; an ``X-User-ID`` header
    naming someone else changes nothing."""
    _config(world, "u1", "c1", ["TSLA"])
    _config(world, "victim", "c1", ["SECRET"])
    resp = lam.invoke("dashboard", api_event("/api/v2/configurations/c1", headers={"X-User-ID": "victim"},
                                             claims=user_claims("u1"))).result
    assert resp["statusCode"] == 200 and json.loads(resp["body"])["tickers"] == ["TSLA"]
    mine_only = lam.invoke("dashboard", api_event("/api/v2/configurations/c9", claims=user_claims("u1"))).result
    assert mine_only["statusCode"] == 404


@pytest.mark.parametrize("claims", [None, {}, {"email": "u1@example.com"}, {"sub": ""}])
def test_authorized_route_without_a_verified_user_is_401(claims, lam, world):
    """No claims (or no ``sub``) on an authorized route is a 401, whatever the headers say."""
    _config(world, "victim", "c1", ["SECRET"])
    resp = lam.invoke("dashboard", api_event("/api/v2/configurations/c1", headers={"X-User-ID": "victim"},
                                             claims=claims)).result
    assert resp["statusCode"] == 401 and "SECRET" not in resp["body"]
    assert json.loads(resp["body"])["message"]


def test_public_routes_need_no_user(lam):
    for route in [r for r in ROUTES if not r.authorized]:
        resp = lam.invoke("dashboard", api_event(_concrete(route), {"sentiment": "positive"})).result
        assert resp["statusCode"] == 200, (route, resp)


# -- routes: one table for API Gateway and the resolver -----------------------------------------------------------------
def test_resolver_routes_are_the_contracts_routes():
    """The resolver serves exactly the contract's routes (the ones API Gateway is built with)."""
    app = H.dashboard.app
    registered = sorted((r.method, r.rule.pattern) for r in app._static_routes + app._dynamic_routes)
    expected = sorted((r.method, app._compile_regex(r.resolver_path).pattern) for r in ROUTES)
    assert registered == expected


def test_a_route_on_one_side_only_stops_the_function():
    """A route added to the contract without a view, or a view without a route, is refused at registration."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver  # noqa: PLC0415
    dashboard = H.dashboard
    extra_route = ROUTES + (Route("GET", "/api/v2/admin/{user_id}", authorized=True),)
    with pytest.raises(dashboard.ConfigurationError, match="/api/v2/admin/"):
        dashboard.register(APIGatewayRestResolver(), extra_route, dashboard.VIEWS)
    extra_view = {**dashboard.VIEWS, ("GET", "/api/v2/debug"): dashboard.health}
    with pytest.raises(dashboard.ConfigurationError, match="/api/v2/debug"):
        dashboard.register(APIGatewayRestResolver(), ROUTES, extra_view)


# -- CORS ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("origin", ORIGINS)
def test_allowed_origin_is_reflected_on_responses_and_preflights(origin, lam):
    """Every configured origin (the first and the extra ones) gets Access-Control-Allow-Origin = itself, on
    successes, errors and preflights of every route; the contract's headers and max age come with it."""
    for route in ROUTES:
        claims = user_claims("u1") if route.authorized else None
        answers = {
            "real": lam.invoke("dashboard", api_event(_concrete(route), {"sentiment": "positive"},
                                                      headers={"Origin": origin}, claims=claims)).result,
            "bad input": lam.invoke("dashboard", api_event(_concrete(route), {"limit": "0"}, headers={"Origin": origin},
                                                           claims=claims)).result,
            "preflight": lam.invoke("dashboard", api_event(_concrete(route), method="OPTIONS", headers={
                "Origin": origin, "Access-Control-Request-Method": route.method,
                "Access-Control-Request-Headers": "authorization"})).result,
        }
        for kind, resp in answers.items():
            headers = _headers(resp)
            assert headers.get("access-control-allow-origin") == origin, (route.path, kind, resp)
            assert headers.get("vary") == "Origin"
            allowed = {h.lower() for h in headers["access-control-allow-headers"].split(",")}
            assert {h.lower() for h in CORS_ALLOW_HEADERS} <= allowed
            assert headers["access-control-expose-headers"].split(",") == list(CORS_EXPOSE_HEADERS)
            assert headers["access-control-max-age"] == str(CORS_MAX_AGE_SECONDS)
        assert answers["preflight"]["statusCode"] == 204
        assert route.method in _headers(answers["preflight"])["access-control-allow-methods"].split(",")


def test_foreign_origin_gets_no_cors_header(lam):
    """A foreign origin is granted nothing: no Allow-Origin, hence no header a browser would act on (a preflight
    still lists the methods, which grants nothing without Allow-Origin)."""
    for route in ROUTES:
        for method in (route.method, "OPTIONS"):
            resp = lam.invoke("dashboard", api_event(_concrete(route), method=method, headers={"Origin": FOREIGN_ORIGIN},
                                                     claims=user_claims("u1") if route.authorized else None)).result
            granted = {h for h in _headers(resp) if h.startswith("access-control-")} - {"access-control-allow-methods"}
            assert not granted, (route.path, method, resp)


@pytest.mark.parametrize("raw", [None, "", " , ", "*", f"{ORIGINS[0]},*"])
def test_no_allowed_origin_is_a_configuration_error(raw):
    """Fail closed: without an explicit origin (or with ``*``) there is no CORS configuration to serve with."""
    with pytest.raises(H.dashboard.ConfigurationError, match=env.CORS_ALLOW_ORIGINS):
        H.dashboard.cors_config(raw)


def test_dashboard_refuses_to_start_without_allowed_origins():
    """The function fails at import (Lambda's init) when CORS_ALLOW_ORIGINS is empty: it never serves."""
    child_env = {**os.environ, **IMPORT_ENV, env.CORS_ALLOW_ORIGINS: ""}
    code = f"import sys; sys.path.append({str(HANDLERS)!r}); import handlers.dashboard.app"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "ConfigurationError" in done.stderr and env.CORS_ALLOW_ORIGINS in done.stderr
