"""sns-topic-tracing-active: a topic (tracing left at PassThrough) delivers to an actively traced function."""
import sys
from pathlib import Path

import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
worker = kit.buffered("worker")
topic = aws.sns.Topic("requests")
aws.lambda_.Permission("requests-invoke", action="lambda:InvokeFunction", function=worker.name,
                       principal="sns.amazonaws.com", source_arn=topic.arn)
aws.sns.TopicSubscription("requests-subscription", topic=topic.arn, protocol="lambda", endpoint=worker.arn)
kit.finish()
