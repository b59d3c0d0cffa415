"""Defines its stack but never builds it: the entry point registers no resource (issue 11: exit 2, not a
clean pass)."""
import pulumi_aws as aws


def main() -> None:
    aws.sqs.Queue("work")
