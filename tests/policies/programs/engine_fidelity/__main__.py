"""The programs of pulumi-policy's integration tests (provider, resource_options, validate_stack, unknown_values,
remote_component), on AWS resources: each resource is named for the case it exercises."""
import pulumi
import pulumi_aws as aws
from pulumi import CustomTimeouts, ResourceOptions

# provider: a resource on the default provider, and one on an explicit provider.
plain = aws.sns.Topic("plain")
west = aws.Provider("my-provider", region="us-west-2")
aws.sns.Topic("with-provider", opts=ResourceOptions(provider=west))

# resource_options: one resource per option.
group = pulumi.ComponentResource("probe:index:Group", "group")
aws.sns.Topic("protect", opts=ResourceOptions(protect=True, parent=group))
aws.sns.Topic("ignoreChanges", opts=ResourceOptions(ignore_changes=["foo", "bar"]))
aws.sns.Topic("deleteBeforeReplaceTrue", opts=ResourceOptions(delete_before_replace=True))
aws.sns.Topic("deleteBeforeReplaceFalse", opts=ResourceOptions(delete_before_replace=False))
aws.sns.Topic("aliased", opts=ResourceOptions(aliases=[pulumi.Alias(name="old-name-for-aliased")]))
aws.sns.Topic("timeouts", opts=ResourceOptions(custom_timeouts=CustomTimeouts(create="1m", update="2m", delete="3m")))
aws.sns.Topic("timeouts-create", opts=ResourceOptions(custom_timeouts=CustomTimeouts(create="4m")))
aws.sns.Topic("secrets", opts=ResourceOptions(additional_secret_outputs=["foo"]))

# validate_stack / validate_resource: violations reported with a URN.
aws.sns.Topic("flag-a")
aws.sns.Topic("flag-b")

# unknown_values: an input unknown in preview (the other topic's ARN is known after create only).
aws.sns.Topic("unknown-input", display_name=plain.arn)


class Remote(pulumi.ComponentResource):
    """remote_component: a multi-language component, constructed by its provider."""

    vpc_id: pulumi.Output[str]

    def __init__(self, name: str, greeting: str):
        super().__init__("probe:index:Remote", name, {"greeting": greeting, "vpcId": None}, remote=True)


remote = Remote("remote", greeting="hello")
pulumi.export("remoteGreeting", remote.greeting)  # type: ignore[attr-defined]
pulumi.export("remoteVpcId", remote.vpcId)  # type: ignore[attr-defined]

# A data source read as real programs read it.
ami = aws.ec2.get_ami(most_recent=True, owners=["amazon"],
                      filters=[{"name": "name", "values": ["al2023-ami-2023.*-x86_64"]}])
aws.ec2.Instance("web", ami=ami.id, instance_type="t3.micro")
pulumi.export("amiName", ami.name)

# The output form of an invoke whose argument is unknown in preview (inside a list of plain values).
document = aws.iam.get_policy_document_output(statements=[{"actions": ["sns:Publish"], "resources": [plain.arn]}])
aws.iam.Policy("publish", policy=document.json)
