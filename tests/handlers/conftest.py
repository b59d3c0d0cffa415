"""Wire-level fixtures for the buffered Lambdas: real Powertools and aws-xray-sdk emitting over UDP to the
daemon stand-in, real boto3 against a moto server on 127.0.0.1, real HTTP against local fakes.

Import-time work, and why it cannot disturb the other layers sharing this pytest process:
* Lambda mode, the daemon address and ``Tracer.disabled`` are decided when aws_xray_sdk/Powertools are
  imported, so the Lambda variables are set *only around* the import of the handler modules, then restored.
* Powertools patches botocore/httplib process-wide at import; the X-Ray SDK is then switched off
  (``global_sdk_config``), which turns every patched call into a pass-through. The ``lam`` fixture switches it
  on for one test and off again, and scopes ``AWS_ENDPOINT_URL``/``_X_AMZN_TRACE_ID`` with monkeypatch.
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import pytest

from contract import env as env_vars
from contract import metrics
from contract.api import ROUTES, USER_CLAIM
from contract.naming import function_name, resource_name, service_name
from contract.xray import TRACE_ENV
from standins.http_fakes import FinnhubFake, SendGridFake, TiingoFake
from standins.moto_server import MotoServer
from standins.xray_daemon import XRayDaemon
from tests.handlers.logs import LogCapture

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ROOT / "handlers"
ENVIRONMENT = "test"
#: The buffered handlers, each ``handlers/<name>/app.py`` (the canary and the streaming function are not).
BUFFERED = ("ingestion", "analysis", "dashboard", "metrics", "notification")
DAEMON = XRayDaemon().start()

#: The service the handler modules are imported as: Powertools fixes the Tracer's metadata namespace then.
IMPORT_SERVICE = service_name("handlers")
#: The dashboard's allowed origins (the program sets them from the stack's settings), and one it must refuse.
ORIGINS = ("https://app.test.sentiment.example.com", "https://admin.test.sentiment.example.com")
FOREIGN_ORIGIN = "https://evil.example.net"
IMPORT_ENV = {
    "LAMBDA_TASK_ROOT": str(HANDLERS), env_vars.LAMBDA_FUNCTION_NAME: function_name(ENVIRONMENT, "handlers"),
    "AWS_XRAY_DAEMON_ADDRESS": DAEMON.address, env_vars.POWERTOOLS_SERVICE_NAME: IMPORT_SERVICE,
    env_vars.POWERTOOLS_TRACER_CAPTURE_RESPONSE: "false", env_vars.POWERTOOLS_LOG_LEVEL: "INFO",
    env_vars.ENVIRONMENT: ENVIRONMENT, env_vars.CORS_ALLOW_ORIGINS: ",".join(ORIGINS),
}


def _import_handlers() -> SimpleNamespace:
    if "aws_xray_sdk.core" in sys.modules or "aws_lambda_powertools.tracing" in sys.modules:
        from aws_xray_sdk.core import xray_recorder
        from aws_xray_sdk.core.lambda_launcher import LambdaContext
        if not isinstance(xray_recorder.context, LambdaContext):
            raise RuntimeError("aws_xray_sdk was imported before tests/handlers/conftest.py outside Lambda mode; "
                               "the handler tests need LAMBDA_TASK_ROOT set before that import")
    saved = {k: os.environ.get(k) for k in IMPORT_ENV}
    os.environ.update(IMPORT_ENV)
    try:
        if str(HANDLERS) not in sys.path:
            sys.path.append(str(HANDLERS))  # appended: `common` never shadows anything already importable
        import common  # noqa: PLC0415
        from handlers.analysis import app as analysis  # noqa: PLC0415
        from handlers.dashboard import app as dashboard  # noqa: PLC0415
        from handlers.ingestion import app as ingestion  # noqa: PLC0415
        from handlers.metrics import app as metrics  # noqa: PLC0415
        from handlers.notification import app as notification  # noqa: PLC0415
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    from aws_xray_sdk import global_sdk_config  # noqa: PLC0415
    global_sdk_config.set_sdk_enabled(False)
    assert not common.tracer.disabled, "Powertools Tracer came up disabled: Lambda env not seen at import"
    return SimpleNamespace(common=common, ingestion=ingestion, analysis=analysis, dashboard=dashboard,
                           metrics=metrics, notification=notification)


H = _import_handlers()


# -- stand-ins ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def daemon():
    yield DAEMON


@pytest.fixture(scope="package")
def aws():
    with MotoServer() as standin:
        yield standin


@pytest.fixture(scope="package")
def fakes():
    f = SimpleNamespace(tiingo=TiingoFake().start(), finnhub=FinnhubFake().start(), sendgrid=SendGridFake().start())
    yield f
    for fake in vars(f).values():
        fake.stop()


@dataclass
class World:
    """The AWS resources of one test, created fresh in moto: tables, topics with SQS taps, secrets."""

    aws: Any
    env: dict[str, str]
    analysis_queue: str
    notification_queue: str

    def messages(self, queue_url: str) -> list[dict]:
        sqs = self.aws.client("sqs")
        out: list[dict] = []
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return out
            out += [json.loads(json.loads(m["Body"])["Message"]) for m in got]

    def metric_sum(self, namespace: str, name: str, dimensions: dict[str, str]) -> float:
        import datetime as dt  # noqa: PLC0415
        now = dt.datetime.now(dt.UTC)
        points = self.aws.client("cloudwatch").get_metric_statistics(
            Namespace=namespace, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(minutes=5), Period=3600,
            Statistics=["Sum"])["Datapoints"]
        return sum(p["Sum"] for p in points)


@pytest.fixture
def world(aws, fakes) -> World:
    aws.reset()
    env = aws.create_tables(ENVIRONMENT)
    sns, sqs, sm = aws.client("sns"), aws.client("sqs"), aws.client("secretsmanager")
    queues = {}
    topics = {"analysis": env_vars.ANALYSIS_TOPIC_ARN, "notification": env_vars.NOTIFICATION_TOPIC_ARN}
    for name, variable in topics.items():
        topic = sns.create_topic(Name=resource_name(ENVIRONMENT, name))["TopicArn"]
        url = sqs.create_queue(QueueName=f"{name}-tap")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        env[variable] = topic
        queues[name] = url
    env[env_vars.NEWS_API_SECRET_ARN] = sm.create_secret(
        Name="news-api", SecretString=json.dumps({"tiingo": fakes.tiingo.token, "finnhub": fakes.finnhub.token}))["ARN"]
    env[env_vars.SENDGRID_SECRET_ARN] = sm.create_secret(
        Name="sendgrid", SecretString=json.dumps({"api_key": fakes.sendgrid.api_key}))["ARN"]
    env.update({env_vars.TIINGO_BASE_URL: fakes.tiingo.address, env_vars.FINNHUB_BASE_URL: fakes.finnhub.address,
                env_vars.SENDGRID_BASE_URL: fakes.sendgrid.address,
                env_vars.ALERT_FROM_EMAIL: "alerts@test.sentiment.example.com", env_vars.DEFAULT_TICKERS: "AAPL,MSFT"})
    for fake in (fakes.tiingo, fakes.finnhub, fakes.sendgrid):
        fake.heal()
    fakes.tiingo.articles.clear()
    fakes.finnhub.articles.clear()
    return World(aws, env, queues["analysis"], queues["notification"])


# -- invoking a handler the way the Lambda runtime does --------------------------------------------------------
def new_trace_header(sampled: bool = True) -> tuple[str, str, str]:
    root = f"1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"
    parent = uuid.uuid4().hex[:16]
    return root, parent, f"Root={root};Parent={parent};Sampled={1 if sampled else 0}"


#: The dimensions of every application metric, as the handlers emit them in the test environment.
ENV_DIMS = {metrics.ENVIRONMENT_DIMENSION: ENVIRONMENT}


def lambda_name(function: str) -> str:
    """The physical name of ``function`` in the test environment (its ``FunctionName`` dimension)."""
    return function_name(ENVIRONMENT, function)


@dataclass
class FakeContext:
    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    remaining_ms: Callable[[], int] = lambda: 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms()


@dataclass
class Invocation:
    root: str
    parent: str
    function: str
    result: Any = None
    error: Optional[BaseException] = None

    def docs(self, daemon: XRayDaemon, timeout: float = 5.0) -> list[dict]:
        """This invocation's documents, once ``## handler`` (streamed last, after its children) arrived."""
        return daemon.wait_for_names(self.root, {"## handler"}, timeout)


class Lambda:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, world: World, logs: LogCapture):
        self.mp, self.world, self.logs = monkeypatch, world, logs

    def invoke(self, function: str, event: Any, *, sampled: bool = True, header: Optional[tuple] = None,
               expect_error: bool = False, handler: Optional[Callable] = None,
               context: Optional[Any] = None) -> Invocation:
        """``header=(root, parent, value)``; a ``value`` of None invokes with ``_X_AMZN_TRACE_ID`` unset."""
        root, parent, value = header or new_trace_header(sampled)
        if value is None:
            self.mp.delenv(TRACE_ENV, raising=False)
        else:
            self.mp.setenv(TRACE_ENV, value)
        self.mp.setenv(env_vars.LAMBDA_FUNCTION_NAME, lambda_name(function))
        self.mp.setenv(env_vars.POWERTOOLS_SERVICE_NAME, service_name(function))
        inv = Invocation(root, parent, function)
        handler = handler or getattr(H, function).handler
        try:
            inv.result = handler(event, context or FakeContext(lambda_name(function)))
        except Exception as exc:  # noqa: BLE001
            if not expect_error:
                raise
            inv.error = exc
        else:
            assert not expect_error, f"{function} was expected to raise, returned {inv.result!r}"
        return inv


def fresh_execution_environment() -> None:
    """What a cold start forgets: cached clients and secrets, and the circuit breaker utility's per-environment
    failure streaks (module state in Powertools, kept across warm invocations by design)."""
    from aws_lambda_powertools.utilities.circuit_breaker import base as breaker_state  # noqa: PLC0415
    from aws_lambda_powertools.utilities.parameters import base as parameters_base  # noqa: PLC0415

    H.common.reset_clients()
    H.common.breaker.store.cache_clear()
    for streaks in (breaker_state._LOCAL_FAILURES, breaker_state._LOCAL_SUCCESSES, breaker_state._LAST_OBSERVED_STATE):
        streaks.clear()
    parameters_base.DEFAULT_PROVIDERS.clear()
    parameters_base.clear_caches()


@pytest.fixture
def lam(monkeypatch, world, daemon):
    from aws_xray_sdk import global_sdk_config  # noqa: PLC0415

    for key, value in {**IMPORT_ENV, **world.env, "AWS_ENDPOINT_URL": world.aws.address,
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    fresh_execution_environment()
    daemon.clear()
    logs = LogCapture(H.common.logger.registered_formatter)
    H.common.logger.addHandler(logs)
    global_sdk_config.set_sdk_enabled(True)
    try:
        yield Lambda(monkeypatch, world, logs)
    finally:
        global_sdk_config.set_sdk_enabled(False)
        H.common.logger.removeHandler(logs)
        fresh_execution_environment()


# -- wire-level fault injection: an HTTP error response handed to botocore's real parser and retry logic --------
class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def inject_aws_error(boto_client: Any, operation: str, *, code: str = "InternalServerError", status: int = 500,
                     when: Callable[[Any], bool] = lambda request: True) -> list:
    """Answer ``operation`` with an AWS error (JSON protocol, as DynamoDB/CloudWatch speak it) instead of sending.

    Returns a list that records each intercepted request; retries therefore show as several entries.
    """
    from botocore.awsrequest import AWSResponse  # noqa: PLC0415

    service = boto_client.meta.service_model.service_id.hyphenize()
    protocol = boto_client.meta.service_model.protocol
    seen: list = []

    def respond(request, **_: Any):
        if not when(request):
            return None
        seen.append(request)
        if protocol == "query":
            body = (f'<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>injected {code}</Message>'
                    f'</Error><RequestId>injected</RequestId></ErrorResponse>').encode()
            headers = {"Content-Type": "text/xml"}
        else:
            body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
        return AWSResponse(request.url, status, headers, _Raw(body))

    boto_client.meta.events.register(f"before-send.{service}.{operation}", respond)
    return seen


def by_name(docs: list[dict], name: str) -> list[dict]:
    return [d for d in docs if d.get("name") == name]


def one(docs: list[dict], name: str) -> dict:
    found = by_name(docs, name)
    assert len(found) == 1, f"expected one {name!r} document, got {len(found)}: {[d.get('name') for d in docs]}"
    return found[0]


def marked(doc: dict) -> bool:
    return bool(doc.get("error") or doc.get("fault"))


#: An EventBridge rule's scheduled event, as Lambda receives it.
SCHEDULED = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/test-sentiment-schedule"], "detail": {}}


def sns_record(envelope: dict) -> dict:
    """One record of an SNS event as Lambda delivers it, around an SNS notification ``envelope`` (SNS names two
    of its fields differently when it delivers to SQS: Lambda's spelling here)."""
    sns = {**envelope}
    for sqs_name, lambda_name_ in (("SigningCertURL", "SigningCertUrl"), ("UnsubscribeURL", "UnsubscribeUrl")):
        if sqs_name in sns:
            sns[lambda_name_] = sns.pop(sqs_name)
    return {"EventSource": "aws:sns", "EventVersion": "1.0",
            "EventSubscriptionArn": f"{sns['TopicArn']}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
            "Sns": {"Type": "Notification", "Subject": None, "MessageAttributes": {}, "SignatureVersion": "1",
                    "Signature": "EXAMPLE", "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe", **sns}}


def sns_event(*messages: Any) -> dict:
    """An SNS event as Lambda delivers it, one record per message (a str is sent as is, anything else as JSON)."""
    topic = f"arn:aws:sns:us-east-1:123456789012:{resource_name(ENVIRONMENT, 'analysis')}"
    return {"Records": [sns_record({"MessageId": str(uuid.uuid4()), "TopicArn": topic,
                                    "Message": m if isinstance(m, str) else json.dumps(m),
                                    "Timestamp": "2026-01-01T00:00:00.000Z"}) for m in messages]}


def sqs_event(*bodies: str) -> dict:
    """An SQS event as Lambda delivers it (what a trigger wired to the wrong source would hand a function)."""
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "AQEB", "body": body,
                         "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1767225600000",
                                        "SenderId": "123456789012", "ApproximateFirstReceiveTimestamp": "1767225600000"},
                         "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue", "awsRegion": "us-east-1"}
                        for body in bodies]}


def user_claims(sub: str) -> dict[str, str]:
    """The claims API Gateway's Cognito authorizer puts in ``requestContext.authorizer.claims`` (all strings)."""
    return {USER_CLAIM: sub, "cognito:username": sub, "email": f"{sub}@test.sentiment.example.com",
            "email_verified": "true", "token_use": "id", "aud": "testclientid",
            "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST", "auth_time": "1767225600",
            "exp": "Thu Jan 01 01:00:00 UTC 2026", "iat": "Thu Jan 01 00:00:00 UTC 2026"}


def _route_of(path: str) -> tuple[str, dict[str, str]]:
    """The API Gateway resource of ``path`` among the contract's routes, and its path parameters."""
    parts = [p for p in path.split("/") if p]
    for route in ROUTES:
        if len(route.segments) == len(parts) and all(
                seg.startswith("{") or seg == part for seg, part in zip(route.segments, parts, strict=True)):
            return route.path, {seg[1:-1]: part for seg, part in zip(route.segments, parts, strict=True) if seg.startswith("{")}
    return path, {}


def api_event(path: str, query: Optional[dict] = None, headers: Optional[dict] = None, method: str = "GET",
              claims: Optional[dict] = None, multi_query: Optional[dict] = None) -> dict:
    """A REST API (v1) Lambda proxy event as API Gateway sends it for the contract's routes: the resource and path
    parameters of the matching route, single- and multi-value headers and query strings, and the Cognito
    authorizer's claims on a request it authorized (``claims``; absent on a public route)."""
    headers = headers or {}
    multi_query = multi_query or {k: [v] for k, v in (query or {}).items()}
    resource, path_parameters = _route_of(path)
    context = {"accountId": "123456789012", "apiId": "a1b2c3d4e5", "stage": "v1", "protocol": "HTTP/1.1",
               "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "domainPrefix": "a1b2c3d4e5",
               "requestId": str(uuid.uuid4()), "extendedRequestId": "Ex4mpleRequestId=",
               "requestTime": "01/Jan/2026:00:00:00 +0000", "requestTimeEpoch": 1767225600000,
               "resourceId": "abc123", "resourcePath": resource, "httpMethod": method, "path": f"/v1{path}",
               "identity": {"sourceIp": "198.51.100.7", "userAgent": "Mozilla/5.0", "accessKey": None,
                            "accountId": None, "caller": None, "user": None, "userArn": None,
                            "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
                            "cognitoIdentityId": None, "cognitoIdentityPoolId": None, "principalOrgId": None}}
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {"resource": resource, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None, "stageVariables": None, "requestContext": context,
            "body": None, "isBase64Encoded": False}
