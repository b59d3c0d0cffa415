"""A plain invoke given a value that is unknown in preview (the bucket's name is known once it is created)."""
import pulumi_aws as aws

bucket = aws.s3.BucketV2("logs", bucket_prefix="logs-")
role = aws.iam.get_role(name=bucket.arn)
aws.iam.RolePolicy("read-logs", role=role.name, policy="{}")
