"""One queue, for the pack ``packs/hangs_in_analyze`` whose policy never returns (issue 11)."""
import pulumi_aws as aws

aws.sqs.Queue("work")
