"""Robustness: a program that, like many public examples, builds strings from values the
provider computes at create time (API endpoints, stage URLs, execution ARNs), looks up existing
infrastructure with data sources we have no special emulation for (VPC, subnets, hosted zone), and
validates an ACM certificate through DNS. In preview those values are unknown (apply does not run);
with --update they must be known and of the declared type, never None. No Lambda, so no policy fails."""
import json

import pulumi
import pulumi_aws as aws

http = aws.apigatewayv2.Api("http", protocol_type="HTTP")
live = aws.apigatewayv2.Stage("live", api_id=http.id, auto_deploy=True)
rest = aws.apigateway.RestApi("rest")
rest_stage_url = aws.apigateway.Stage("v1", rest_api=rest.id, deployment="dep-1", stage_name="v1",
                                     xray_tracing_enabled=True).invoke_url

# Data sources: any program's lookups of existing infrastructure.
vpc = aws.ec2.get_vpc(default=True)
subnets = aws.ec2.get_subnets(filters=[{"name": "vpc-id", "values": [vpc.id]}])
zone = aws.route53.get_zone(name="example.org")
group = aws.ec2.SecurityGroup("web", vpc_id=vpc.id, description="subnets: " + ",".join(subnets.ids))

cert = aws.acm.Certificate("site", domain_name="www.example.org", validation_method="DNS")
record = aws.route53.Record(
    "site-validation",
    zone_id=zone.zone_id,
    name=cert.domain_validation_options.apply(lambda opts: opts[0].resource_record_name),
    type=cert.domain_validation_options.apply(lambda opts: opts[0].resource_record_type),
    records=[cert.domain_validation_options.apply(lambda opts: opts[0].resource_record_value)],
    ttl=300,
)

site = aws.s3.Bucket("site")
aws.s3.BucketPolicy("site-read", bucket=site.id, policy=site.id.apply(lambda name: json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                   "Resource": f"arn:aws:s3:::{name}/*"}]})))

pulumi.export("httpUrl", pulumi.Output.concat(http.api_endpoint, "/", live.name))
pulumi.export("restUrl", rest_stage_url.apply(lambda url: url + "/items"))
pulumi.export("executeArn", http.execution_arn.apply(lambda arn: arn + "/*/*"))
pulumi.export("subnetCount", len(subnets.ids))
pulumi.export("bucket", site.bucket)
pulumi.export("bucketId", site.id)
