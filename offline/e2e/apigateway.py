"""API Gateway as the program declares it: REST routes from the recorded Resources and Methods, Lambda proxy
integrations, the Cognito authorizer, and gateway responses, served on 127.0.0.1.

A request becomes the REST proxy event API Gateway sends (path and query parameters, the authorizer's verified
claims, the trace header of API Gateway's own segment); the function's response (status, headers, body) is
passed through unchanged, as a proxy integration does, so CORS headers are exactly what the function returns.
A route the declarations do not have answers 403 ``Missing Authentication Token``, as API Gateway does; a
Cognito-authorized route without a valid ID token answers 401 with the declared ``DEFAULT_4XX`` headers.
"""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from offline.e2e.declarations import Declarations
from offline.e2e.runtime import new_trace_header


@dataclass(frozen=True)
class Route:
    method: str
    template: str            # e.g. /api/v2/timeseries/{ticker}
    authorized: bool
    function_arn: str

    def match(self, path: str) -> Optional[dict[str, str]]:
        pattern = "^" + re.sub(r"\\{(\w+)\\+\\}", r"(?P<\1>.+)", re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)",
                                                                         re.escape(self.template))) + "$"
        m = re.match(pattern, path)
        return m.groupdict() if m else None


def declared_routes(decl: Declarations) -> list[Route]:
    """The routes of the (single) REST API, rebuilt from its Resource, Method and Integration records."""
    (api,) = decl.of_type("aws:apigateway/restApi:RestApi")
    paths = {decl.value(api, "rootResourceId"): ""}
    resources = decl.of_type("aws:apigateway/resource:Resource")
    while len(paths) < len(resources) + 1:
        progress = False
        for r in resources:
            if r.id not in paths and r.inputs["parentId"] in paths:
                paths[r.id] = f"{paths[r.inputs['parentId']]}/{r.inputs['pathPart']}"
                progress = True
        if not progress:
            raise ValueError("API resources whose parents are not in the declarations")
    integrations = {(i.inputs["resourceId"], i.inputs["httpMethod"]): i for i in
                    decl.of_type("aws:apigateway/integration:Integration")}
    routes = []
    for m in decl.of_type("aws:apigateway/method:Method"):
        integration = integrations.get((m.inputs["resourceId"], m.inputs["httpMethod"]))
        if integration is None or integration.inputs.get("type") != "AWS_PROXY":
            continue
        uri = integration.inputs["uri"]  # .../functions/<function arn>/invocations
        arn = uri.split("/functions/", 1)[1].rsplit("/invocations", 1)[0] if "/functions/" in uri else uri
        routes.append(Route(m.inputs["httpMethod"], paths[m.inputs["resourceId"]] or "/",
                            m.inputs.get("authorization") == "COGNITO_USER_POOLS", arn))
    return routes


class CognitoVerifier:
    """Verifies ID tokens as API Gateway's Cognito authorizer does: signature (the pool's JWKS), issuer,
    audience (the app client), ``token_use`` and expiry."""

    def __init__(self, endpoint: str, pool_id: str, client_id: str):
        self.pool_id, self.client_id = pool_id, client_id
        with urllib.request.urlopen(f"{endpoint}/{pool_id}/.well-known/jwks.json", timeout=5) as resp:
            self.keys = KeySet.import_key_set(json.loads(resp.read()))

    def claims(self, token: str) -> Optional[dict]:
        try:
            decoded = jwt.decode(token, self.keys)
        except Exception:  # noqa: BLE001 - any malformed or badly signed token is simply unauthorized
            return None
        c = decoded.claims
        if c.get("token_use") != "id" or c.get("aud") != self.client_id or not str(c.get("iss", "")).endswith(self.pool_id):
            return None
        if float(c.get("exp", 0)) < time.time():
            return None
        return c


class ApiGatewayEmulator:
    def __init__(self, routes: list[Route], invoke: Callable[[str, dict, str], dict], stage: str,
                 verifier: Optional[CognitoVerifier], error_headers: dict[str, str]):
        self.routes, self.invoke, self.stage, self.verifier = routes, invoke, stage, verifier
        self.error_headers = error_headers
        self.requests: list[dict] = []
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                emulator._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{self.stage}"

    def start(self) -> ApiGatewayEmulator:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _reply(self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: str) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body.encode())))
        h.end_headers()
        h.wfile.write(body.encode())

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        path = url.path.removeprefix(f"/{self.stage}") or "/"
        for route in self.routes:
            params = route.match(path) if route.method in (h.command, "ANY") else None
            if params is not None:
                break
        else:
            return self._reply(h, 403, self.error_headers, json.dumps({"message": "Missing Authentication Token"}))
        headers = {k: v for k, v in h.headers.items()}
        claims = None
        if route.authorized:
            token = headers.get("Authorization") or headers.get("authorization") or ""
            claims = self.verifier.claims(token.removeprefix("Bearer ").strip()) if self.verifier else None
            if claims is None:
                return self._reply(h, 401, self.error_headers, json.dumps({"message": "Unauthorized"}))
        trace = new_trace_header()
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode() if length else None
        event = {
            "resource": route.template, "path": path, "httpMethod": h.command, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None, "pathParameters": params or None,
            "stageVariables": None, "body": body, "isBase64Encoded": False,
            "requestContext": {"resourcePath": route.template, "httpMethod": h.command, "path": f"/{self.stage}{path}",
                               "stage": self.stage, "requestId": str(uuid.uuid4()), "accountId": "123456789012",
                               "apiId": "e2e", "identity": {"sourceIp": "127.0.0.1"},
                               **({"authorizer": {"claims": claims}} if claims else {})}}
        self.requests.append({"route": route.template, "method": h.command, "trace": trace})
        result = self.invoke(route.function_arn, event, trace)
        out_headers = dict(result.get("headers") or {})
        for k, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[k] = ",".join(values)
        out_headers["X-Amzn-Trace-Id"] = trace.split(";")[0]
        self._reply(h, int(result.get("statusCode", 502)), out_headers, result.get("body") or "")
