"""``AlertChannels``: where alarms go (D8), and the out-of-band channel that bypasses CloudWatch (FR-050).

The alarm topic receives every alarm and OK transition and the budget notifications. The out-of-band
topic lives in a second region and is published to directly by the canary, so a CloudWatch (or
whole-region) failure is still reported.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from contract.naming import resource_name

TYPE = "sentiment:observability:AlertChannels"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class AlertChannelsArgs:
    environment: str
    alarm_email: str
    second_region: str
    primary_region: str
    #: The account the alarms and budgets publish from: the topic policy admits only its own alarms and
    #: budgets (the confused-deputy conditions AWS's CloudWatch and Budgets pages give).
    account_id: pulumi.Input[str]
    webhook_urls: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _EMAIL.match(self.alarm_email):
            raise ValueError(f"alarm_email {self.alarm_email!r} is not an e-mail address")
        if self.second_region == self.primary_region:
            raise ValueError(f"second_region must differ from {self.primary_region}: the out-of-band channel has to "
                             "survive a regional CloudWatch failure (FR-050)")
        bad = [u for u in self.webhook_urls if not u.startswith("https://")]
        if bad:
            raise ValueError(f"out-of-band webhooks must be https:// URLs, got {bad}")


class AlertChannels(pulumi.ComponentResource):
    alarm_topic: aws.sns.Topic
    out_of_band_topic: aws.sns.Topic

    def __init__(self, name: str, args: AlertChannelsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.alarm_topic = aws.sns.Topic(f"{name}-alarms", name=resource_name(args.environment, "alarms"),
                                         tags=dict(args.tags), opts=child)
        aws.sns.TopicPolicy(f"{name}-alarms-policy", arn=self.alarm_topic.arn, opts=child,
                            policy=pulumi.Output.json_dumps(alarm_topic_policy(self.alarm_topic.arn, args)))
        aws.sns.TopicSubscription(f"{name}-alarms-email", topic=self.alarm_topic.arn, protocol="email",
                                  endpoint=args.alarm_email, opts=child)
        self.second_region = aws.Provider(f"{name}-second-region", region=args.second_region, opts=child)
        remote = pulumi.ResourceOptions(parent=self, provider=self.second_region)
        self.out_of_band_topic = aws.sns.Topic(f"{name}-out-of-band", name=resource_name(args.environment, "out-of-band"),
                                               tags=dict(args.tags), opts=remote)
        aws.sns.TopicSubscription(f"{name}-out-of-band-email", topic=self.out_of_band_topic.arn, protocol="email",
                                  endpoint=args.alarm_email, opts=remote)
        for i, url in enumerate(args.webhook_urls):
            aws.sns.TopicSubscription(f"{name}-out-of-band-webhook-{i}", topic=self.out_of_band_topic.arn,
                                      protocol="https", endpoint=url, opts=remote)
        self.register_outputs({"alarmTopicArn": self.alarm_topic.arn, "outOfBandTopicArn": self.out_of_band_topic.arn})


def alarm_topic_policy(topic_arn: pulumi.Input[str], args: AlertChannelsArgs) -> dict:
    """Only this account's CloudWatch alarms (in the primary region) and its budgets may publish: without the
    ``aws:SourceAccount``/``aws:SourceArn`` conditions any account's alarm naming this topic could page on-call
    (docs/aws-facts.md PRM-16)."""
    def publisher(sid: str, service: str, source_arn: pulumi.Input[str]) -> dict:
        return {"Sid": sid, "Effect": "Allow", "Principal": {"Service": service}, "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id},
                              "ArnLike": {"aws:SourceArn": source_arn}}}

    return {"Version": "2012-10-17", "Statement": [
        publisher("CloudWatchAlarmsOfThisAccount", "cloudwatch.amazonaws.com",
                  pulumi.Output.concat("arn:aws:cloudwatch:", args.primary_region, ":", args.account_id, ":alarm:*")),
        publisher("BudgetsOfThisAccount", "budgets.amazonaws.com",
                  pulumi.Output.concat("arn:aws:budgets::", args.account_id, ":*"))]}
