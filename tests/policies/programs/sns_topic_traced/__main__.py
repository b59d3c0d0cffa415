"""sns-topic-tracing-active passes: the topic that feeds a traced function is Active and X-Ray's resource policy
lets SNS write segments; an untraced topic with only e-mail subscribers is not judged."""
import json
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
worker = kit.buffered("worker")
topic = aws.sns.Topic("requests", tracing_config="Active")
aws.lambda_.Permission("requests-invoke", action="lambda:InvokeFunction", function=worker.name,
                       principal="sns.amazonaws.com", source_arn=topic.arn)
aws.sns.TopicSubscription("requests-subscription", topic=topic.arn, protocol="lambda", endpoint=worker.arn)
aws.sns.TopicSubscription("alarms-email", topic=kit.topic.arn, protocol="email", endpoint="ops@example.com")
aws.xray.ResourcePolicy("sns-tracing", policy_name="sns-tracing", policy_document=json.dumps({
    "Version": "2012-10-17", "Statement": [{
        "Sid": "SnsActiveTracing", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": ["xray:PutTraceSegments", "xray:GetSamplingRules", "xray:GetSamplingTargets"], "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"},
                      "ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:*"}}}]}))
kit.finish()
