"""The whole stack under Pulumi mocks: one test per requirement, named by its number.

Expectations come from the contract (``contract/``) or from AWS's own names, never from a restated table.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import contract
from contract import metrics as m
from contract import streaming
from contract.alarms import CLASS_TAG, CRITICAL, DEFAULT_LATENCY_FRACTION, LATENCY_BAND, SEVERITY_TAG, AlarmClass, class_map
from contract.api import ROUTES
from contract.cost import BUDGET_THRESHOLDS_USD, XRAY_BUDGET_SERVICE
from contract.data import FAILURE_PATH_OWNER, FAILURE_PATHS
from contract.env import ENVIRONMENT, REQUIRED
from contract.naming import function_name, resource_name, service_name
from contract.xray import MAX_NAME_LENGTH, XRAY_ACTIONS
from tests.infra.conftest import FUNCTION, StackView, is_unknown, policy_actions

#: The seven functions of the system: the handlers' environment table names each of them once.
LAMBDAS = tuple(REQUIRED)


def env_of(view: StackView) -> str:
    return view.result.stack.stack


def fn(view: StackView, logical: str):
    name = function_name(env_of(view), logical)
    return view.one(FUNCTION, lambda r: r.inputs["name"] == name)


def test_design_seven_lambdas_named_env_sentiment_lambda(stack: StackView):
    assert len(LAMBDAS) == 7
    assert sorted(f.inputs["name"] for f in stack.functions()) == sorted(function_name(env_of(stack), n)
                                                                          for n in LAMBDAS)


def test_fr013_every_function_has_active_tracing(stack: StackView):
    for f in stack.functions():
        assert f.inputs["tracingConfig"] == {"mode": "Active"}, f.name


def test_fr013_sc008_analysis_topic_traced_with_dlq(prod: StackView):
    topic = prod.one("aws:sns/topic:Topic", lambda r: r.inputs["name"] == resource_name("prod", "analysis-requests"))
    assert topic.inputs["tracingConfig"] == "Active"
    sub = prod.one("aws:sns/topicSubscription:TopicSubscription",
                   lambda r: topic.urn in r.property_dependencies.get("topic", []))
    assert sub.inputs["protocol"] == "lambda"
    assert [d.inputs["name"] for d in prod.depends_on(sub, "endpoint")] == [function_name("prod", "analysis")]
    assert [d.inputs["name"] for d in prod.depends_on(sub, "redrivePolicy")] == [resource_name("prod", "analysis-requests-dlq")]


def test_fr017_every_role_grants_the_five_xray_actions(stack: StackView):
    for f in stack.functions():
        (role,) = stack.depends_on(f, "role")
        policies = [p for p in stack.of_type("aws:iam/rolePolicy:RolePolicy")
                    if role.urn in p.property_dependencies.get("role", [])]
        known = [p.inputs["policy"] for p in policies if not is_unknown(p.inputs["policy"])]
        granted = set().union(*(policy_actions(p) for p in known))
        assert set(XRAY_ACTIONS) <= granted, f"{f.name} role lacks {set(XRAY_ACTIONS) - granted}"


def test_security_each_function_has_its_own_role(stack: StackView):
    roles = [stack.depends_on(f, "role")[0].urn for f in stack.functions()]
    assert len(set(roles)) == len(roles)


def test_fr051_canary_role_used_by_nothing_else(stack: StackView):
    canary = fn(stack, "canary")
    (role,) = stack.depends_on(canary, "role")
    users = [f.name for f in stack.functions() if role.urn in f.property_dependencies.get("role", [])]
    assert users == [canary.name]
    assert "canary" in role.urn and any(a.type == "sentiment:observability:Canary" for a in stack.ancestors(role))


def test_fr034_prod_sampling_rules_per_d9(prod: StackView):
    rules = {r.inputs["ruleName"]: r.inputs for r in prod.of_type("aws:xray/samplingRule:SamplingRule")}
    got = {n: (r["priority"], r["reservoirSize"], r["fixedRate"]) for n, r in rules.items()}
    assert got == {"prod-apigw": (100, 10, 0.10), "prod-default": (9000, 5, 0.10)}


def test_fr034_dev_samples_everything(dev: StackView):
    rules = [r.inputs for r in dev.of_type("aws:xray/samplingRule:SamplingRule")]
    assert [(r["reservoirSize"], r["fixedRate"]) for r in rules] == [(1, 1.0)]


def test_fr034_groups_with_insights_and_names_within_32(stack: StackView):
    groups = {g.inputs["groupName"]: g.inputs for g in stack.of_type("aws:xray/group:Group")}
    exprs = {g["filterExpression"] for g in groups.values()}
    assert "fault = true OR error = true" in exprs
    assert 'annotation.previous_trace_id BEGINSWITH "1-"' in exprs
    assert {"!annotation.synthetic", "annotation.synthetic = true"} <= exprs
    assert all(g["insightsConfiguration"]["insightsEnabled"] for g in groups.values())
    names = list(groups) + [r.inputs["ruleName"] for r in stack.of_type("aws:xray/samplingRule:SamplingRule")]
    assert all(len(n) <= MAX_NAME_LENGTH for n in names), names


def test_fr038_sc016_budget_notifies_at_10_25_50(prod: StackView):
    budget = prod.one("aws:budgets/budget:Budget")
    actual = sorted(n["threshold"] for n in budget.inputs["notifications"] if n["notificationType"] == "ACTUAL")
    assert actual == list(BUDGET_THRESHOLDS_USD)
    assert all(n["thresholdType"] == "ABSOLUTE_VALUE" for n in budget.inputs["notifications"]
               if n["notificationType"] == "ACTUAL")
    assert budget.inputs["costFilters"] == [{"name": "Service", "values": [XRAY_BUDGET_SERVICE]}]


def test_fr040_sc017_every_function_has_an_errors_alarm(stack: StackView):
    for f in stack.functions():
        alarms = stack.alarms_for(f)
        plain = [a for a in alarms if a.inputs.get("metricName") == "Errors" and a.inputs.get("namespace") == "AWS/Lambda"]
        math = [a for a in alarms if any((q.get("metric") or {}).get("metricName") == "Errors"
                                         for q in a.inputs.get("metricQueries") or [])]
        assert plain and math, f"{f.name}: errors alarm {bool(plain)}, error-rate alarm {bool(math)}"
        # linkage survives unknowns: the alarm's dimensions depend on the function resource
        assert all(f.urn in a.property_dependencies.get("dimensions", []) for a in plain)


def test_fr041_fr061_sc017_p95_duration_at_85_percent_of_timeout(stack: StackView):
    streaming = stack.streaming_function_urns()
    for f in stack.functions():
        durations = [a for a in stack.alarms_for(f) if a.inputs.get("metricName") == "Duration"]
        if f.urn in streaming:
            assert durations == [], "the SSE Duration is its stream length (D7); alarm latency instead"
            continue
        (alarm,) = durations
        assert alarm.inputs["extendedStatistic"] == "p95"
        ratio = alarm.inputs["threshold"] / (f.inputs["timeout"] * 1000)
        low, high = LATENCY_BAND
        assert low <= ratio <= high and ratio == pytest.approx(DEFAULT_LATENCY_FRACTION), f"{f.name}: {ratio:.2f}"


def test_d7_streaming_function_alarms_latency_instead(prod: StackView):
    sse = fn(prod, "sse-streaming")
    by_metric = {a.inputs.get("metricName"): a.inputs for a in prod.alarms_for(sse)}
    assert by_metric[m.EVENT_LATENCY_MS]["extendedStatistic"] == "p95"
    assert by_metric[m.EVENT_LATENCY_MS]["threshold"] == 3000  # the event-latency SLO of the requirements
    assert by_metric[m.CONNECTION_SETUP_MS]["extendedStatistic"] == "p99"
    assert {m.CONNECTION_ACQUIRE_FAILURES, m.POLL_DURATION_MS, "Url5xxCount", "Errors", "Throttles"} <= set(by_metric)


def test_fr042_sc018_custom_metrics_alarmed(prod: StackView):
    metrics = {a.inputs.get("metricName") for a in prod.alarms()}
    required = {m.STUCK_ITEMS, m.CONNECTION_ACQUIRE_FAILURES, m.EVENT_LATENCY_MS, m.METRICS_LAMBDA_ERRORS,
                m.HIGH_LATENCY_ALERT, m.POLL_DURATION_MS, m.ANALYSIS_ERRORS}
    assert required <= metrics, required - metrics
    assert all(a.inputs.get("alarmDescription") for a in prod.alarms()), "every threshold is documented"


def test_fr043_sc019_one_alarm_per_silent_failure_path(stack: StackView):
    silent = [a.inputs for a in stack.alarms() if a.inputs.get("metricName") == m.SILENT_FAILURE_METRIC]
    assert sorted(a["dimensions"][m.FAILURE_PATH_DIMENSION] for a in silent) == sorted(FAILURE_PATHS)
    for a in silent:
        owner = FAILURE_PATH_OWNER[a["dimensions"][m.FAILURE_PATH_DIMENSION]]
        assert a["dimensions"][m.FUNCTION_DIMENSION] == function_name(env_of(stack), owner)
        assert a["namespace"] == m.SILENT_FAILURE_NAMESPACE and a["period"] == 60
        assert a["tags"][CLASS_TAG] == AlarmClass.ERRORS.value


def test_d5_metric_fallback_filter_counts_the_json_line(prod: StackView):
    filters = [f for f in prod.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
               if f.inputs["metricTransformation"]["name"] == m.METRIC_FALLBACK_METRIC]
    assert len(filters) == 2 and {f.inputs["pattern"] for f in filters} == {m.METRIC_FALLBACK_FILTER_PATTERN}
    for f in filters:
        t = f.inputs["metricTransformation"]
        assert t["defaultValue"] == "0" and t["value"] == "1"
        (alarm,) = [a for a in prod.alarms() if a.inputs.get("namespace") == t["namespace"]
                    and a.inputs.get("metricName") == t["name"]]
        assert alarm.inputs["treatMissingData"] == "notBreaching"


def test_fr044_sc022_dashboard_lists_every_alarm(prod: StackView):
    board = prod.one("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(board.inputs["dashboardBody"])
    (everything,) = [w for w in body["widgets"] if w["type"] == "alarm" and w["properties"]["title"] == "All alarms"]
    shown = {arn.rsplit(":", 1)[1] for arn in everything["properties"]["alarms"]}
    names = {a.inputs["name"] for a in prod.alarms()}
    names |= {c.inputs["alarmName"] for c in prod.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")}
    assert shown == names and len(names) > 50
    assert all(a.startswith("arn:aws:cloudwatch:us-east-1:") for a in everything["properties"]["alarms"])
    titles = {w["properties"]["title"] for w in body["widgets"]}
    assert {"CRITICAL alarms", "WARNING alarms", "Lambda errors", "Lambda p95 duration (ms)"} <= titles


def test_fr045_treat_missing_data_by_alarm_class(stack: StackView):
    classes = class_map()
    for a in stack.alarms():
        assert a.inputs["treatMissingData"] == classes[a.inputs["tags"][CLASS_TAG]], a.name
    absence = {a.inputs["metricName"] for a in stack.alarms() if a.inputs["tags"][CLASS_TAG] == AlarmClass.ABSENCE}
    assert {m.NEW_ITEMS_INGESTED, m.CANARY_HEALTH, m.TRACE_COMPLETENESS_RATIO, m.EMISSION_HEARTBEAT} <= absence


def test_d8_every_alarm_has_actions_to_the_alarm_topic(stack: StackView):
    topic = stack.one("aws:sns/topic:Topic", lambda r: r.inputs["name"] == resource_name(env_of(stack), "alarms"))
    for a in stack.alarms() + stack.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm"):
        assert a.inputs["actionsEnabled"] is True
        for prop in ("alarmActions", "okActions"):
            assert len(a.inputs[prop]) == 1, (a.name, prop)
            assert [d.urn for d in stack.depends_on(a, prop)] == [topic.urn], (a.name, prop)


def test_d8_critical_composite_covers_critical_alarms(prod: StackView):
    comp = prod.one("aws:cloudwatch/compositeAlarm:CompositeAlarm")
    critical = {a.inputs["name"] for a in prod.alarms() if a.inputs["tags"][SEVERITY_TAG] == CRITICAL}
    assert comp.inputs["tags"][SEVERITY_TAG] == CRITICAL and len(critical) >= 8
    assert {f'ALARM("{n}")' for n in critical} == set(comp.inputs["alarmRule"].split(" OR "))


def test_fr046_streaming_function_has_no_exec_wrapper_anywhere(stack: StackView):
    for f in stack.functions():
        if f.urn in stack.streaming_function_urns():
            assert streaming.EXEC_WRAPPER_VAR not in f.inputs["environment"]["variables"]
            assert not f.inputs.get("layers"), "images take no layers (D1)"


def test_fr047_fr052_fr054_fr056_sse_otel_environment(prod: StackView):
    sse = fn(prod, "sse-streaming")
    env = sse.inputs["environment"]["variables"]
    assert sse.inputs["packageType"] == "Image"
    assert env["OTEL_SERVICE_NAME"] == env["POWERTOOLS_SERVICE_NAME"] == streaming.SERVICE_NAME
    wanted = streaming.otel_environment()
    assert {k: env.get(k) for k in wanted} == wanted
    for variable, accepted in streaming.ACCEPTED.items():
        assert env[variable] in accepted, variable
    assert (env["SSE_POLL_INTERVAL_SECONDS"], env["SSE_HEARTBEAT_SECONDS"]) == ("5", "30")
    assert sse.inputs["reservedConcurrentExecutions"] == 25 and sse.inputs["memorySize"] == 1024


def test_fr015_function_url_cors(prod: StackView):
    url = prod.one("aws:lambda/functionUrl:FunctionUrl")
    assert url.inputs["invokeMode"] == "RESPONSE_STREAM"
    cors = url.inputs["cors"]
    assert {"x-amzn-trace-id", "last-event-id", "authorization"} <= set(cors["allowHeaders"])  # what web/ sends
    assert cors["allowHeaders"] == list(streaming.CORS_ALLOW_HEADERS)
    assert cors["exposeHeaders"] == list(streaming.CORS_EXPOSE_HEADERS)
    assert cors["maxAge"] == streaming.CORS_MAX_AGE_SECONDS
    assert cors["allowOrigins"] == ["https://sentiment.example.com"]


def test_fr015_api_gateway_tracing_routes_and_gateway_error_cors(prod: StackView):
    """Tracing on; every route of the contract exists with its authorization (user routes behind the Cognito
    authorizer, D16); preflights go to the function (it answers CORS); gateway errors carry CORS too."""
    stage = prod.one("aws:apigateway/stage:Stage")
    assert stage.inputs["xrayTracingEnabled"] is True
    methods = prod.of_type("aws:apigateway/method:Method")
    (authorizer,) = prod.of_type("aws:apigateway/authorizer:Authorizer")
    assert authorizer.inputs["type"] == "COGNITO_USER_POOLS"
    for route in ROUTES:
        label = "-".join(seg.strip("{}") for seg in route.segments)
        (method,) = [m for m in methods if m.name.endswith(f"-{label}-{route.method.lower()}")]
        assert method.inputs["authorization"] == ("COGNITO_USER_POOLS" if route.authorized else "NONE"), route
        assert bool(prod.depends_on(method, "authorizerId")) == route.authorized
        assert any(m.name.endswith(f"-{label}-options") and m.inputs["authorization"] == "NONE" for m in methods)
    integrations = prod.of_type("aws:apigateway/integration:Integration")
    assert integrations and all(i.inputs["type"] == "AWS_PROXY" for i in integrations)
    for r in prod.of_type("aws:apigateway/response:Response"):
        headers = {k.rsplit(".", 1)[1]: v for k, v in r.inputs["responseParameters"].items()}
        assert "X-Amzn-Trace-Id" in headers["Access-Control-Allow-Headers"]
        assert headers["Access-Control-Allow-Origin"] == "'https://sentiment.example.com'"


def test_d4_buffered_functions_powertools_layer_and_env(stack: StackView):
    streaming = stack.streaming_function_urns()
    for f in stack.functions():
        if f.urn in streaming:
            continue
        env = f.inputs["environment"]["variables"]
        assert f.inputs["runtime"] == "python3.13" and f.inputs["handler"] == "app.handler"
        assert len(f.inputs["layers"]) == 1 and "AWSLambdaPowertoolsPythonV3" in f.inputs["layers"][0]
        assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
        logical = f.inputs["name"].removeprefix(f"{env_of(stack)}-sentiment-")
        assert f.inputs["name"] == function_name(env_of(stack), logical)
        assert env["POWERTOOLS_SERVICE_NAME"] == service_name(logical)
        assets = f.inputs["code"].assets
        assert "app.py" in assets and "common/__init__.py" in assets
        # the Lambdas import the very contract the program was built from: every file of it, as it is
        root = Path(contract.__file__).parent
        shipped = {k.removeprefix("contract/"): Path(v.path) for k, v in assets.items() if k.startswith("contract/")}
        assert set(shipped) == {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
        assert all(path.resolve() == (root / rel).resolve() for rel, path in shipped.items())
        assert not any("__pycache__" in k for k in assets)


def test_handler_environment_contract(prod: StackView):
    """Every function starts with at least what its handler requires (the handlers read the same table)."""
    for logical, keys in REQUIRED.items():
        env = fn(prod, logical).inputs["environment"]["variables"]
        assert set(keys) | {ENVIRONMENT} <= set(env), (logical, set(keys) - set(env))
        assert not any("KEY" in k or "PASSWORD" in k for k in env), "secrets come from Secrets Manager, never plain variables"


def test_reliability_async_functions_keep_failed_events(prod: StackView):
    for logical in ("ingestion", "analysis", "metrics", "notification"):
        f = fn(prod, logical)
        (dlq,) = prod.depends_on(f, "deadLetterConfig")
        assert dlq.type == "aws:sqs/queue:Queue"
        assert any(a.inputs.get("metricName") == "ApproximateNumberOfMessagesVisible"
                   and dlq.urn in a.property_dependencies.get("dimensions", []) for a in prod.alarms())


def test_logs_every_function_has_a_log_group_with_retention(stack: StackView):
    groups = {g.inputs["name"]: g.inputs for g in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    for f in stack.functions():
        assert groups[f"/aws/lambda/{f.inputs['name']}"]["retentionInDays"] == 30


def test_fr050_out_of_band_topic_in_second_region(prod: StackView):
    provider = prod.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-west-2"
    oob = prod.one("aws:sns/topic:Topic", lambda r: r.inputs["name"] == resource_name("prod", "out-of-band"))
    assert oob.provider.startswith(provider.urn)
    subs = [s for s in prod.of_type("aws:sns/topicSubscription:TopicSubscription")
            if oob.urn in s.property_dependencies.get("topic", [])]
    assert [s.inputs["protocol"] for s in subs] == ["email"]
    canary_env = fn(prod, "canary").inputs["environment"]["variables"]
    assert is_unknown(canary_env["OUT_OF_BAND_TOPIC_ARN"])  # an ARN: known only after deploy


def test_children_are_parented_to_their_components(stack: StackView):
    component_urns = {r.urn for r in stack.records if not r.custom}
    for r in stack.records:
        if r.custom:
            assert r.parent in component_urns, f"{r.urn} is not inside a component"
        # engine-faithful URN: the type chain of every ancestor, never the root Stack's
        chain = [a.type for a in reversed(stack.ancestors(r))] + [r.type]
        assert r.urn.split("::")[2] == "$".join(chain)


def test_stack_outputs(prod: StackView, prod_deployed: StackView):
    out = prod.result.outputs
    assert out["dashboardName"] == resource_name("prod", "operations")
    assert is_unknown(out["apiUrl"]) and is_unknown(out["sseUrl"])  # computed at create time
    assert len(out["alarmNames"]) == len(prod.alarms()) + 1
    deployed = prod_deployed.result.outputs
    assert deployed["apiUrl"].startswith("https://") and deployed["sseUrl"].startswith("https://")
