"""Declares a queue, then leaves with os._exit(0) (issue 11: that is exit 2, not a clean pass that checked
nothing)."""
import os

import pulumi_aws as aws

aws.sqs.Queue("work")
os._exit(0)
