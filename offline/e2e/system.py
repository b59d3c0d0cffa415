"""The system as one, on this machine: the emulated account, the stand-ins, and each function run as Lambda
runs it. ``System`` knows how to invoke a function (its own warm worker, its role's credentials, its declared
environment with endpoint overrides) and how SNS delivers what a function published to the functions
subscribed to that topic, carrying the publisher's trace as Active tracing does.
"""
from __future__ import annotations

import base64
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

from contract import env as E
from offline.e2e.account import ACCOUNT, REGION, EmulatedAccount
from offline.e2e.declarations import Declarations, Function
from offline.e2e.runtime import REPO, Invocation, LambdaProcess, build_layer, local_archive
from standins.http_fakes import FinnhubFake, SendGridFake, TiingoFake
from standins.otlp_receiver import OtlpReceiver
from standins.xray_daemon import XRayDaemon

SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
#: Vendored packages rebuilt for this interpreter, kept between runs (keyed by the requirements' digest).
VENDOR_CACHE = REPO / "build" / "e2e-vendor"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_event(rule_arn: str) -> dict:
    """What EventBridge sends a scheduled target."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": now_iso(), "region": REGION, "resources": [rule_arn], "detail": {}}


def sns_event(topic_arn: str, subscription_arn: str, message: str, attributes: Optional[dict] = None) -> dict:
    """What SNS delivers to a Lambda subscriber (every field SNS sets, in the forms SNS sets them)."""
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else REGION
    endpoint = f"https://sns.{region}.amazonaws.com"
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription_arn,
                         "Sns": {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": topic_arn,
                                 "Subject": None, "Message": message, "Timestamp": now_iso(), "SignatureVersion": "1",
                                 "Signature": base64.b64encode(secrets.token_bytes(64)).decode(),
                                 "SigningCertUrl": f"{endpoint}/SimpleNotificationService-e2e.pem",
                                 "UnsubscribeUrl": f"{endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}",
                                 "MessageAttributes": attributes or {}}}]}


def published(invocation: Invocation) -> list[tuple[str, str]]:
    """(topic ARN, message) of every message the invocation published successfully (Publish or PublishBatch)."""
    out = []
    for call in invocation.calls:
        if call["service"] != "sns" or call.get("error"):
            continue
        topic = call["params"].get("TopicArn", "")
        if call["operation"] == "Publish":
            out.append((topic, call["params"]["Message"]))
        elif call["operation"] == "PublishBatch":
            out += [(topic, entry["Message"]) for entry in call["params"].get("PublishBatchRequestEntries", [])]
    return out


def flatten(doc: dict, trace_id: Optional[str] = None) -> Iterator[dict]:
    """A segment document and all its subsegments, each with the trace id it belongs to."""
    trace_id = doc.get("trace_id") or trace_id
    yield {**doc, "trace_id": trace_id}
    for sub in doc.get("subsegments") or []:
        yield from flatten(sub, trace_id)


@dataclass
class System:
    decl: Declarations
    workdir: Path
    account: EmulatedAccount = field(default_factory=EmulatedAccount)
    daemon: XRayDaemon = field(default_factory=XRayDaemon)
    receiver: OtlpReceiver = field(default_factory=OtlpReceiver)
    tiingo: TiingoFake = field(default_factory=TiingoFake)
    finnhub: FinnhubFake = field(default_factory=FinnhubFake)
    sendgrid: SendGridFake = field(default_factory=SendGridFake)
    processes: dict[str, LambdaProcess] = field(default_factory=dict)
    invocations: list[tuple[str, Invocation]] = field(default_factory=list)   # (step, invocation)
    started_env: dict[str, dict[str, str]] = field(default_factory=dict)       # function -> env it started with
    api_url: str = ""
    notes: list[str] = field(default_factory=list)

    def start(self) -> System:
        for standin in (self.daemon, self.receiver, self.tiingo, self.finnhub, self.sendgrid):
            standin.start()
        self.account.start()
        self.account.provision(self.decl)
        self.layer = build_layer(self.workdir / "layer")
        self.functions = self.decl.functions()
        self.roles = self.decl.roles()
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.account.stop()
        for standin in (self.daemon, self.receiver, self.tiingo, self.finnhub, self.sendgrid):
            standin.stop()

    # -- functions -------------------------------------------------------------------------------------------
    def overrides(self) -> dict[str, str]:
        """Declared variables whose values point at AWS or the internet, pointed at the local peers instead."""
        out = {E.TIINGO_BASE_URL: self.tiingo.address, E.FINNHUB_BASE_URL: self.finnhub.address,
               E.SENDGRID_BASE_URL: self.sendgrid.address}
        if self.api_url:
            out[E.CANARY_HEALTH_URL] = f"{self.api_url}/health"
        return out

    def environment(self, fn: Function) -> dict[str, str]:
        env = self.account.subs.apply(dict(fn.environment))
        for key, value in self.overrides().items():
            if key in env:
                env[key] = value
        return env

    def process(self, logical: str) -> LambdaProcess:
        if logical not in self.processes:
            fn = self.functions[logical]
            role = self.roles[fn.role_urn]
            creds = self.account.assume(self.account.subs.apply(role.arn), f"e2e-{logical}")
            workdir = self.workdir / logical
            if workdir.exists():
                shutil.rmtree(workdir)
            workdir.mkdir(parents=True)
            env = self.environment(fn)
            self.started_env[logical] = env
            archive, rebuilt = local_archive(fn, VENDOR_CACHE)
            if rebuilt:
                self.notes.append(f"{logical}: vendored packages rebuilt from its requirements.txt for this interpreter")
            self.processes[logical] = LambdaProcess(
                function=fn, credentials=creds, environment=env, layer=self.layer, workdir=workdir, archive=archive,
                endpoint=self.account.endpoint, daemon_address=self.daemon.address).start()
        return self.processes[logical]

    def invoke(self, step: str, logical: str, event: Any, trace: Optional[str] = None,
               faults: Optional[list[dict]] = None) -> Invocation:
        invocation = self.process(logical).invoke(event, trace, faults)
        self.invocations.append((step, invocation))
        return invocation

    def by_arn(self, arn: str) -> Optional[str]:
        arn = self.account.subs.apply(arn)
        for logical, fn in self.functions.items():
            if self.account.subs.apply(fn.arn) == arn:
                return logical
        return None

    # -- SNS delivery ----------------------------------------------------------------------------------------
    def lambda_subscribers(self, topic_arn: str) -> list[tuple[str, str]]:
        """(function, subscription ARN) for each declared Lambda subscription of the topic."""
        out = []
        for sub in self.decl.of_type(SUBSCRIPTION):
            if sub.inputs.get("protocol") == "lambda" and self.account.subs.apply(sub.inputs["topic"]) == topic_arn:
                logical = self.by_arn(sub.inputs["endpoint"])
                if logical:
                    out.append((logical, self.account.subs.apply(self.decl.value(sub, "arn") or "")))
        return out

    def deliver(self, step: str, publisher: Invocation) -> list[Invocation]:
        """Deliver each message ``publisher`` published to the topics' Lambda subscribers, one trace (SNS Active
        tracing passes the publisher's trace to the subscriber: same Root, SNS's segment as Parent)."""
        delivered = []
        for topic, message in published(publisher):
            for logical, subscription in self.lambda_subscribers(topic):
                header = f"Root={publisher.trace_id};Parent={secrets.token_hex(8)};Sampled=1"
                delivered.append(self.invoke(step, logical, sns_event(topic, subscription, message), header))
        return delivered

    def rule_arn_of(self, logical: str) -> str:
        fn = self.functions[logical]
        for target in self.decl.of_type("aws:cloudwatch/eventTarget:EventTarget"):
            if self.account.subs.apply(target.inputs["arn"]) == self.account.subs.apply(fn.arn):
                (rule,) = [r for r in self.decl.of_type("aws:cloudwatch/eventRule:EventRule")
                           if r.inputs["name"] == target.inputs["rule"]]
                return self.account.subs.apply(self.decl.value(rule, "arn"))
        raise KeyError(f"{logical} has no schedule")

    def put_item(self, table_env: str, item: dict[str, Any]) -> None:
        """Seed a row with the administrator's credentials (what a user or an earlier run would have written)."""
        table = self.account.subs.apply(self.functions["dashboard"].environment[table_env])
        self.account.client("dynamodb").put_item(TableName=table, Item={
            k: ({"L": [{"S": x} for x in v]} if isinstance(v, list) else {"S": str(v)}) for k, v in item.items()})


def sign_in(system: System, email: str = "user@example.com", password: str = "E2e-Passw0rd-Long") -> tuple[str, str]:
    """A user of the declared pool, signed in through the declared app client: (user id, ID token)."""
    idp = system.account.client("cognito-idp")
    (pool,) = system.decl.of_type("aws:cognito/userPool:UserPool")
    (client,) = system.decl.of_type("aws:cognito/userPoolClient:UserPoolClient")
    pool_id, client_id = system.account.subs.apply(pool.id), system.account.subs.apply(client.id)
    idp.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": email, "PASSWORD": password})["AuthenticationResult"]
    user = idp.admin_get_user(UserPoolId=pool_id, Username=email)
    sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    return sub, tokens["IdToken"]
