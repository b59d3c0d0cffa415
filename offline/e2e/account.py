"""An emulated AWS account: a moto server with IAM enforced, provisioned from the program's declarations.

moto runs in its own process with ``INITIAL_NO_AUTH_ACTION_COUNT`` so that, after an administrator is created,
every request must be signed by a known principal and is allowed only by that principal's policies (moto
matches actions; ``iam_fit`` judges resources and conditions on top). Each declaration moto can hold is created
from the recorded inputs; a declaration moto rejects stops the run with the resource named.

moto assigns some identifiers itself (secret ARN suffixes, user-pool ids, queue URLs). ``Substitutions`` maps
each declared value to the one moto assigned, and everything that carries declared values into the account
(policies, environments, alarm dimensions) goes through it, so the account is the program's, with AWS's ids.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from offline.e2e.declarations import Declarations, Function
from offline.mocks import ResourceRecord

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account, also the mock runtime's
ADMIN = "e2e-admin"
#: Requests moto serves before it enforces IAM: creating the administrator, its policy and its key.
BOOTSTRAP_ACTIONS = 3
#: Test values of the application's secrets (the news APIs and SendGrid are local fakes).
SECRET_VALUES = {"news-api": {"tiingo": "tiingo-test-key", "finnhub": "finnhub-test-key"},
                 "sendgrid": {"api_key": "SG.test-key"}}


class ProvisioningError(RuntimeError):
    """moto (standing in for AWS) rejected a declaration."""


@dataclass
class Substitutions:
    """Declared value -> the value the emulated account assigned (longest first, so prefixes stay intact)."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, declared: Optional[str], actual: Optional[str]) -> None:
        if declared and actual and declared != actual:
            self.values[declared] = actual

    def apply(self, obj: Any) -> Any:
        if isinstance(obj, str):
            for declared in sorted(self.values, key=len, reverse=True):
                if declared in obj:
                    obj = obj.replace(declared, self.values[declared])
            return obj
        if isinstance(obj, dict):
            return {k: self.apply(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.apply(v) for v in obj]
        return obj


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmulatedAccount:
    """The moto process, its administrator, and what was provisioned in it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: Optional[subprocess.Popen] = None
        self.admin: dict[str, str] = {}
        self.subs = Substitutions()
        self.created: list[str] = []          # "type name" of every resource created
        self.skipped: list[str] = []          # declarations moto cannot hold, with why
        self.region = REGION                  # of the record being provisioned (explicit providers may differ)

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> EmulatedAccount:
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_ACTIONS), "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=open(os.environ.get("E2E_MOTO_LOG", os.devnull), "w"),
                                        env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ProvisioningError(f"the moto server exited at start (code {self.process.returncode})")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise ProvisioningError(f"the moto server did not answer on {self.endpoint} within {timeout:.0f} s")
        self._bootstrap_admin()
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def _bootstrap_admin(self) -> None:
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="bootstrap",
                           aws_secret_access_key="bootstrap")
        iam.create_user(UserName=ADMIN)
        iam.put_user_policy(UserName=ADMIN, PolicyName="admin", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
        self.admin = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    def client(self, service: str, credentials: Optional[dict[str, str]] = None, region: Optional[str] = None) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region or self.region,
                            config=Config(retries={"max_attempts": 1}), **(credentials or self.admin))

    def assume(self, role_arn: str, session: str) -> dict[str, str]:
        """Credentials of ``role_arn``, as Lambda gives a function its execution role's."""
        creds = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session[:64])["Credentials"]
        return {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"]}

    # -- provisioning ----------------------------------------------------------------------------------------
    def provision(self, decl: Declarations) -> None:
        """Create what moto can hold, in dependency order (roles before functions, topics before subscriptions)."""
        steps: list[tuple[str, Callable[[Declarations, ResourceRecord], None]]] = [
            ("aws:iam/role:Role", self._role), ("aws:dynamodb/table:Table", self._table),
            ("aws:sqs/queue:Queue", self._queue), ("aws:sns/topic:Topic", self._topic),
            ("aws:secretsmanager/secret:Secret", self._secret), ("aws:ssm/parameter:Parameter", self._parameter),
            ("aws:cognito/userPool:UserPool", self._user_pool),
            ("aws:cognito/userPoolClient:UserPoolClient", self._user_pool_client),
            ("aws:cloudwatch/logGroup:LogGroup", self._log_group),
            ("aws:iam/rolePolicy:RolePolicy", self._role_policy),
            ("aws:sqs/queuePolicy:QueuePolicy", self._queue_policy),
            ("aws:lambda/function:Function", self._function),
            ("aws:sns/topicSubscription:TopicSubscription", self._subscription),
            ("aws:cloudwatch/logMetricFilter:LogMetricFilter", self._metric_filter),
            ("aws:cloudwatch/metricAlarm:MetricAlarm", self._alarm),
            ("aws:cloudwatch/compositeAlarm:CompositeAlarm", self._composite),
            ("aws:cloudwatch/dashboard:Dashboard", self._dashboard),
            ("aws:cloudwatch/eventRule:EventRule", self._rule),
            ("aws:cloudwatch/eventTarget:EventTarget", self._target),
        ]
        for type_token, create in steps:
            for record in decl.of_type(type_token):
                self.region = _region_of(decl, record)
                try:
                    create(decl, record)
                except ClientError as exc:
                    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
                    if status >= 500:  # moto's own limitation, not AWS refusing the declaration
                        self.skipped.append(f"{record.type} {record.name}: the emulator cannot hold it ({status})")
                        continue
                    raise ProvisioningError(f"{record.type} {record.name!r} was rejected by the emulated account: "
                                            f"{str(exc)[:300]}") from exc
                except (BotoCoreError, KeyError, TypeError, ValueError) as exc:
                    raise ProvisioningError(f"{record.type} {record.name!r} was rejected by the emulated account: "
                                            f"{str(exc)[:300]}") from exc
                finally:
                    self.region = REGION
                self.created.append(f"{type_token} {record.name}")

    def _declared_arn(self, decl: Declarations, record: ResourceRecord) -> Optional[str]:
        return decl.value(record, "arn")

    def _role(self, decl: Declarations, r: ResourceRecord) -> None:
        # The runner assumes each function's role the way the Lambda service does; in the emulated account the
        # trust policy names the runner's principal besides the declared ones (checked separately, see checks).
        # (moto also needs an "AWS" principal in every statement it evaluates, so it goes into each one.)
        trust = json.loads(r.inputs["assumeRolePolicy"])
        for statement in trust["Statement"]:
            if isinstance(statement.get("Principal"), dict):
                statement["Principal"] = {**statement["Principal"], "AWS": f"arn:aws:iam::{ACCOUNT}:user/{ADMIN}"}
        out = self.client("iam").create_role(RoleName=decl.value(r, "name"), AssumeRolePolicyDocument=json.dumps(trust))
        self.subs.add(self._declared_arn(decl, r), out["Role"]["Arn"])

    def _role_policy(self, decl: Declarations, r: ResourceRecord) -> None:
        (role,) = decl.depends_on(r, "role")
        self.client("iam").put_role_policy(RoleName=decl.value(role, "name"), PolicyName=r.name,
                                           PolicyDocument=json.dumps(action_gate(json.loads(r.inputs["policy"]))))

    def _table(self, decl: Declarations, r: ResourceRecord) -> None:
        i = r.inputs
        keys = [{"AttributeName": i["hashKey"], "KeyType": "HASH"}] + (
            [{"AttributeName": i["rangeKey"], "KeyType": "RANGE"}] if i.get("rangeKey") else [])
        kwargs: dict[str, Any] = {"TableName": i["name"], "BillingMode": i.get("billingMode", "PAY_PER_REQUEST"),
                                  "KeySchema": keys,
                                  "AttributeDefinitions": [{"AttributeName": a["name"], "AttributeType": a["type"]}
                                                           for a in i["attributes"]]}
        gsis = i.get("globalSecondaryIndexes") or []
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = [{
                "IndexName": g["name"], "Projection": {"ProjectionType": g.get("projectionType", "ALL")},
                "KeySchema": [{"AttributeName": g["hashKey"], "KeyType": "HASH"}] + (
                    [{"AttributeName": g["rangeKey"], "KeyType": "RANGE"}] if g.get("rangeKey") else [])}
                for g in gsis]
        if i.get("streamEnabled"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": i["streamViewType"]}
        out = self.client("dynamodb").create_table(**kwargs)["TableDescription"]
        self.subs.add(self._declared_arn(decl, r), out["TableArn"])

    def _queue(self, decl: Declarations, r: ResourceRecord) -> None:
        sqs = self.client("sqs")
        attrs = {"MessageRetentionPeriod": str(int(r.inputs.get("messageRetentionSeconds", 345600)))}
        url = sqs.create_queue(QueueName=r.inputs["name"], Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.subs.add(self._declared_arn(decl, r), arn)
        self.subs.add(decl.value(r, "url"), url)
        self.subs.add(r.id, url)

    def _queue_policy(self, decl: Declarations, r: ResourceRecord) -> None:
        policy = json.dumps(self.subs.apply(json.loads(r.inputs["policy"])))
        self.client("sqs").set_queue_attributes(QueueUrl=self.subs.apply(r.inputs["queueUrl"]),
                                                Attributes={"Policy": policy})

    def _topic(self, decl: Declarations, r: ResourceRecord) -> None:
        attrs = {}
        if r.inputs.get("tracingConfig"):
            attrs["TracingConfig"] = r.inputs["tracingConfig"]
        if r.inputs.get("kmsMasterKeyId"):
            attrs["KmsMasterKeyId"] = r.inputs["kmsMasterKeyId"]
        arn = self.client("sns").create_topic(Name=r.inputs["name"], Attributes=attrs)["TopicArn"]
        self.subs.add(self._declared_arn(decl, r), arn)

    def _subscription(self, decl: Declarations, r: ResourceRecord) -> None:
        i = self.subs.apply(dict(r.inputs))
        extra = {"Attributes": {"RedrivePolicy": i["redrivePolicy"]}} if i.get("redrivePolicy") else {}
        self.client("sns").subscribe(TopicArn=i["topic"], Protocol=i["protocol"], Endpoint=i["endpoint"], **extra)

    def _secret(self, decl: Declarations, r: ResourceRecord) -> None:
        name = r.inputs["name"]
        value = SECRET_VALUES.get(name.rsplit("/", 1)[-1], {"value": "test"})
        arn = self.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
        self.subs.add(self._declared_arn(decl, r), arn)

    def _parameter(self, decl: Declarations, r: ResourceRecord) -> None:
        value = r.inputs["value"]
        if isinstance(value, dict):  # a secret-wrapped input records its plain value under "value"
            value = value.get("value")
        self.client("ssm").put_parameter(Name=r.inputs["name"], Value=value, Type=r.inputs.get("type", "String"))
        arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{r.inputs['name'].lstrip('/')}"
        self.subs.add(self._declared_arn(decl, r), arn)

    def _user_pool(self, decl: Declarations, r: ResourceRecord) -> None:
        pool = self.client("cognito-idp").create_user_pool(
            PoolName=r.inputs["name"], UsernameAttributes=r.inputs.get("usernameAttributes") or [],
            AutoVerifiedAttributes=r.inputs.get("autoVerifiedAttributes") or [])["UserPool"]
        self.subs.add(r.id, pool["Id"])
        self.subs.add(self._declared_arn(decl, r), pool["Arn"])
        self.subs.add(decl.value(r, "endpoint"), f"cognito-idp.{REGION}.amazonaws.com/{pool['Id']}")

    def _user_pool_client(self, decl: Declarations, r: ResourceRecord) -> None:
        flows = list(r.inputs.get("explicitAuthFlows") or []) + ["ALLOW_USER_PASSWORD_AUTH"]  # tests sign in directly
        client = self.client("cognito-idp").create_user_pool_client(
            UserPoolId=self.subs.apply(r.inputs["userPoolId"]), ClientName=r.inputs["name"],
            GenerateSecret=bool(r.inputs.get("generateSecret")), ExplicitAuthFlows=flows)["UserPoolClient"]
        self.subs.add(r.id, client["ClientId"])

    def _log_group(self, decl: Declarations, r: ResourceRecord) -> None:
        logs = self.client("logs")
        logs.create_log_group(logGroupName=r.inputs["name"])
        if r.inputs.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=r.inputs["name"], retentionInDays=int(r.inputs["retentionInDays"]))

    def _metric_filter(self, decl: Declarations, r: ResourceRecord) -> None:
        t = r.inputs["metricTransformation"]
        transformation = {"metricName": t["name"], "metricNamespace": t["namespace"], "metricValue": t["value"]}
        if t.get("defaultValue") is not None:
            transformation["defaultValue"] = float(t["defaultValue"])
        self.client("logs").put_metric_filter(logGroupName=r.inputs["logGroupName"], filterName=r.inputs["name"],
                                              filterPattern=r.inputs["pattern"], metricTransformations=[transformation])

    def _alarm(self, decl: Declarations, r: ResourceRecord) -> None:
        self.client("cloudwatch").put_metric_alarm(**alarm_request(self.subs.apply(dict(r.inputs))))

    def _composite(self, decl: Declarations, r: ResourceRecord) -> None:
        i = self.subs.apply(dict(r.inputs))
        self.client("cloudwatch").put_composite_alarm(
            AlarmName=i["alarmName"], AlarmRule=i["alarmRule"], ActionsEnabled=bool(i.get("actionsEnabled", True)),
            AlarmActions=i.get("alarmActions") or [], OKActions=i.get("okActions") or [],
            AlarmDescription=i.get("alarmDescription", ""))

    def _dashboard(self, decl: Declarations, r: ResourceRecord) -> None:
        self.client("cloudwatch").put_dashboard(DashboardName=r.inputs["dashboardName"],
                                                DashboardBody=self.subs.apply(r.inputs["dashboardBody"]))

    def _rule(self, decl: Declarations, r: ResourceRecord) -> None:
        arn = self.client("events").put_rule(Name=r.inputs["name"], ScheduleExpression=r.inputs["scheduleExpression"],
                                             State="ENABLED")["RuleArn"]
        self.subs.add(self._declared_arn(decl, r), arn)

    def _target(self, decl: Declarations, r: ResourceRecord) -> None:
        i = self.subs.apply(dict(r.inputs))
        target: dict[str, Any] = {"Id": r.name[:64], "Arn": i["arn"]}
        if i.get("retryPolicy"):
            target["RetryPolicy"] = {"MaximumRetryAttempts": int(i["retryPolicy"]["maximumRetryAttempts"]),
                                     "MaximumEventAgeInSeconds": int(i["retryPolicy"]["maximumEventAgeInSeconds"])}
        self.client("events").put_targets(Rule=i["rule"], Targets=[target])

    def _function(self, decl: Declarations, r: ResourceRecord) -> None:
        fn = next(f for f in decl.functions().values() if f.record is r)
        lam = self.client("lambda")
        common = dict(FunctionName=fn.name, Role=self.subs.apply(decl.value(r, "role")), Timeout=int(fn.timeout_seconds),
                      MemorySize=int(fn.memory_mb), TracingConfig={"Mode": fn.tracing_mode or "PassThrough"},
                      Environment={"Variables": self.subs.apply(fn.environment)})
        if fn.package_type == "Image":
            out = lam.create_function(PackageType="Image", Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
                                                                               f"{fn.name}:e2e"}, **common)
        else:
            out = lam.create_function(Runtime=fn.runtime, Handler=fn.handler, Code={"ZipFile": zip_bytes(fn)}, **common)
        self.subs.add(fn.arn, out["FunctionArn"])


#: moto authorizes these operations under their own names; AWS under the first (sns:Publish covers PublishBatch).
#: moto also names X-Ray's REST operations by their paths.
MOTO_ACTION_NAMES = (("sns:Publish", "sns:PublishBatch"), ("xray:PutTraceSegments", "xray:TraceSegments"),
                     ("dynamodb:UpdateItem", "dynamodb:TransactWriteItems"),
                     ("dynamodb:PutItem", "dynamodb:TransactWriteItems"), ("dynamodb:GetItem", "dynamodb:TransactGetItems"),
                     ("xray:PutTelemetryRecords", "xray:TelemetryRecords"), ("xray:BatchGetTraces", "xray:Traces"),
                     ("xray:GetTraceSummaries", "xray:TraceSummaries"))


def _region_of(decl: Declarations, record: ResourceRecord) -> str:
    """The region of the provider the record was declared with (the default provider's otherwise)."""
    provider = decl.by_urn.get(record.provider.rsplit("::", 1)[0]) if record.provider else None  # "<urn>::<id>"
    return (provider.inputs.get("region") if provider else None) or REGION


def action_gate(document: dict) -> dict:
    """The policy moto enforces: the declared actions on every resource, without conditions.

    moto matches a request's action against a statement but compares its resource as ``*`` (so any statement
    scoped to an ARN would deny everything) and names CloudWatch actions ``monitoring:*``. The gate therefore
    keeps only the actions; ``iam_fit`` judges each recorded call's resource and condition against the declared
    statements themselves.
    """
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    gate = []
    for st in statements:
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else list(actions)
        actions += [a.replace("cloudwatch:", "monitoring:", 1) for a in actions if a.startswith("cloudwatch:")]
        actions += [batch for single, batch in MOTO_ACTION_NAMES if single in actions]
        gate.append({"Effect": st["Effect"], "Action": actions, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": gate}


def alarm_request(i: dict) -> dict:
    """PutMetricAlarm arguments from a MetricAlarm's recorded inputs (pulumi's camelCase names)."""
    req: dict[str, Any] = {
        "AlarmName": i["name"], "ComparisonOperator": i["comparisonOperator"],
        "EvaluationPeriods": int(i["evaluationPeriods"]), "ActionsEnabled": bool(i.get("actionsEnabled", True)),
        "AlarmActions": i.get("alarmActions") or [], "OKActions": i.get("okActions") or [],
        "AlarmDescription": i.get("alarmDescription", ""), "TreatMissingData": i.get("treatMissingData", "missing")}
    if i.get("datapointsToAlarm") is not None:
        req["DatapointsToAlarm"] = int(i["datapointsToAlarm"])
    if i.get("threshold") is not None:
        req["Threshold"] = float(i["threshold"])
    if i.get("thresholdMetricId"):
        req["ThresholdMetricId"] = i["thresholdMetricId"]
    if i.get("metricName"):
        req.update(MetricName=i["metricName"], Namespace=i["namespace"], Period=int(i["period"]),
                   Dimensions=[{"Name": k, "Value": v} for k, v in (i.get("dimensions") or {}).items()])
        if i.get("statistic"):
            req["Statistic"] = i["statistic"]
        if i.get("extendedStatistic"):
            req["ExtendedStatistic"] = i["extendedStatistic"]
    else:
        req["Metrics"] = [_query(q) for q in i["metricQueries"]]
    return req


def _query(q: dict) -> dict:
    out: dict[str, Any] = {"Id": q["id"], "ReturnData": bool(q.get("returnData", False))}
    if q.get("label"):
        out["Label"] = q["label"]
    if q.get("expression"):
        out["Expression"] = q["expression"]
    if q.get("metric"):
        m = q["metric"]
        dims = [{"Name": k, "Value": v} for k, v in (m.get("dimensions") or {}).items()]
        out["MetricStat"] = {"Metric": {"MetricName": m["metricName"], "Namespace": m["namespace"], "Dimensions": dims},
                             "Period": int(m["period"]), "Stat": m["stat"]}
    return out


def zip_bytes(fn: Function) -> bytes:
    """The function's deployment archive, exactly the files the program packages."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, path in sorted(fn.archive.items()):
            z.write(path, arcname)
    return buf.getvalue()
