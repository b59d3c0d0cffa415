"""``DataTables``, ``TracedTopic`` and ``AppSecrets``: the stores, the traced SNS hops and the API keys."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.alarms import AlarmSet, AlarmSetArgs, dlq_depth_spec
from components.monitoring import Monitoring
from contract.data import TableSchema

TABLES_TYPE = "sentiment:observability:DataTables"
TOPIC_TYPE = "sentiment:observability:TracedTopic"
SECRETS_TYPE = "sentiment:observability:AppSecrets"


@dataclass
class DataTablesArgs:
    environment: str
    tables: Sequence[TableSchema]
    point_in_time_recovery: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)


class DataTables(pulumi.ComponentResource):
    """On-demand DynamoDB tables built from ``contract.data`` (the same contract the handlers read)."""

    tables: dict[str, aws.dynamodb.Table]

    def __init__(self, name: str, args: DataTablesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TABLES_TYPE, name, None, opts)
        self.tables = {}
        for schema in args.tables:
            physical = schema.physical_name(args.environment)
            self.tables[schema.logical] = aws.dynamodb.Table(
                f"{name}-{schema.logical}", name=physical, billing_mode="PAY_PER_REQUEST",
                hash_key=schema.hash_key, range_key=schema.range_key,
                attributes=[{"name": a, "type": "S"} for a in schema.attributes],
                global_secondary_indexes=[{"name": i.name, "hash_key": i.hash_key, "range_key": i.range_key,
                                           "projection_type": "ALL"} for i in schema.indexes] or None,
                stream_enabled=schema.stream or None,
                stream_view_type="NEW_AND_OLD_IMAGES" if schema.stream else None,
                ttl={"attribute_name": schema.ttl_attribute, "enabled": True} if schema.ttl_attribute else None,
                point_in_time_recovery={"enabled": args.point_in_time_recovery},
                tags=dict(args.tags), opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"tableNames": {k: t.name for k, t in self.tables.items()}})

    def arns(self, *logical: str) -> list[pulumi.Output[str]]:
        """Table and index ARNs, for least-privilege grants."""
        out = []
        for name in logical:
            arn = self.tables[name].arn
            out += [arn, pulumi.Output.concat(arn, "/index/*")]
        return out


@dataclass
class TracedTopicArgs:
    topic_name: str
    subscriber_function_arn: pulumi.Input[str]
    subscriber_function_name: pulumi.Input[str]
    tags: Mapping[str, str] = field(default_factory=dict)
    # Where the DLQ-depth alarm goes (messages SNS could not deliver wait there); one of the two.
    monitoring: Optional[Monitoring] = None
    alarm_topic_arn: Optional[pulumi.Input[str]] = None

    def __post_init__(self) -> None:
        if self.monitoring is None and self.alarm_topic_arn is None:
            raise ValueError(f"TracedTopic {self.topic_name}: give monitoring or alarm_topic_arn (its DLQ is alarmed)")


class TracedTopic(pulumi.ComponentResource):
    """A traced SNS hop to one Lambda (ingestion → analysis, ingestion → notification): a topic with Active
    tracing, so ``AWSTraceHeader`` carries the
    trace to the subscriber without manual attributes (FR-013, SC-008); raw delivery stays off for the
    same reason. Messages the subscription cannot deliver go to an SQS DLQ."""

    def __init__(self, name: str, args: TracedTopicArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TOPIC_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        base = args.topic_name
        self.topic = aws.sns.Topic(name, name=base, tracing_config="Active",
                                   kms_master_key_id="alias/aws/sns", tags=dict(args.tags), opts=child)
        self.dlq = aws.sqs.Queue(f"{name}-dlq", name=f"{base}-dlq", message_retention_seconds=1209600,
                                 tags=dict(args.tags), opts=child)
        aws.sqs.QueuePolicy(f"{name}-dlq-policy", queue_url=self.dlq.id, opts=child, policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": self.dlq.arn, "Condition": {"ArnEquals": {"aws:SourceArn": self.topic.arn}}}]}))
        permission = aws.lambda_.Permission(f"{name}-invoke", action="lambda:InvokeFunction",
                                            function=args.subscriber_function_name, principal="sns.amazonaws.com",
                                            source_arn=self.topic.arn, opts=child)
        self.subscription = aws.sns.TopicSubscription(
            f"{name}-subscription", topic=self.topic.arn, protocol="lambda", endpoint=args.subscriber_function_arn,
            redrive_policy=self.dlq.arn.apply(lambda arn: json.dumps({"deadLetterTargetArn": arn})),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]))
        self.alarm_set = AlarmSet(f"{name}-alarms", AlarmSetArgs(
            prefix=base, specs=[dlq_depth_spec(self.dlq.name)], tags=dict(args.tags),
            alarm_topic_arn=args.alarm_topic_arn, monitoring=args.monitoring), opts=child)
        self.register_outputs({"topicArn": self.topic.arn, "dlqArn": self.dlq.arn})


@dataclass
class AppSecretsArgs:
    environment: str
    names: Sequence[str]  # logical names, e.g. ("news-api", "sendgrid")
    tags: Mapping[str, str] = field(default_factory=dict)


class AppSecrets(pulumi.ComponentResource):
    """Secrets Manager entries for API keys (never plain environment variables, so a key never shows in the
    console or a trace). Values are
    set out of band (``aws secretsmanager put-secret-value``); handlers get only the ARN."""

    def __init__(self, name: str, args: AppSecretsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(SECRETS_TYPE, name, None, opts)
        self.secrets = {n: aws.secretsmanager.Secret(f"{name}-{n}", name=f"{args.environment}/sentiment/{n}",
                                                     recovery_window_in_days=7, tags=dict(args.tags),
                                                     opts=pulumi.ResourceOptions(parent=self))
                        for n in args.names}
        self.register_outputs({"secretNames": [s.name for s in self.secrets.values()]})
