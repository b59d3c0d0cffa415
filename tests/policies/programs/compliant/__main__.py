"""Passes every policy, while using the shapes a naive policy gets wrong:
an alarm made in another component than its function, an alarm on a function name given as a
literal string, a metric-math error-rate alarm as the only Errors alarm of a function, an inline
X-Ray policy with wildcards, an untagged absence-shaped alarm that does use breaching, the exec
wrapper on a buffered function (allowed), a streaming function with its own latency alarm, and
a canary with its own role."""
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402


class Service(pulumi.ComponentResource):
    def __init__(self, name, kit):
        super().__init__("fixture:index:Service", name)
        self.fn = kit.function(name, opts=pulumi.ResourceOptions(parent=self), timeout=60)
        self.register_outputs({})


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name, kit, functions):
        super().__init__("fixture:index:Monitoring", name)
        child = pulumi.ResourceOptions(parent=self)
        for fn_name, fn in functions:
            kit.error_alarm(fn_name, fn.name, opts=child)
            kit.duration_alarm(fn_name, fn.name, 60, opts=child)
        self.register_outputs({})


kit = Kit()
svc = Service("orders", kit)
Monitoring("monitoring", kit, [("orders", svc.fn)])                 # alarm in another component

explicit = kit.function("explicit", fn_name="prod-explicit-fn", role=kit.role("explicit", xray="inline"))
kit.error_alarm("explicit", "prod-explicit-fn")                     # literal name, no dependency
kit.duration_alarm("explicit", "prod-explicit-fn", 30)

mathy = kit.function("mathy", env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"})  # buffered: allowed
dims = {"FunctionName": mathy.name}
kit.alarm("mathy-error-rate", alarm_class="errors", treat="notBreaching", threshold=5,
          comparison_operator="GreaterThanThreshold", metric_queries=[
              {"id": "errors", "metric": {"metric_name": "Errors", "namespace": "AWS/Lambda", "period": 60,
                                          "stat": "Sum", "dimensions": dims}},
              {"id": "invocations", "metric": {"metric_name": "Invocations", "namespace": "AWS/Lambda", "period": 60,
                                               "stat": "Sum", "dimensions": dims}},
              {"id": "rate", "expression": "100 * errors / invocations", "return_data": True}])
kit.duration_alarm("mathy", mathy.name, 30)

kit.streaming("sse")
kit.buffered("canary", timeout=60)                                   # its own role
kit.alarm("heartbeat", alarm_class=None, treat="breaching", namespace="Fixture", metric_name="Heartbeat",
          statistic="SampleCount", period=300, threshold=1, comparison_operator="LessThanThreshold")
aws.xray.Group("errors-group", group_name="errors", filter_expression="fault = true OR error = true")
aws.xray.SamplingRule("default-rule", rule_name="fixture-default", priority=9000, reservoir_size=5, fixed_rate=0.1,
                      host="*", http_method="*", url_path="*", resource_arn="*", service_name="*", service_type="*",
                      version=1)
kit.finish()
