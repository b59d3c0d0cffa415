"""Stack policies: judged on the whole stack's outputs at once (``AnalyzeStack``).

Only a stack policy can relate two resources (an alarm to its function, a URL to its function, a
role to its policies). Each builds a ``StackIndex`` in one pass and reports every violation on the
URN of the resource to change. A value unknown at preview never raises: linking falls back to
property dependencies, and what still cannot be judged is skipped and judged after the update.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Callable

from pulumi_policy import EnforcementLevel, StackValidationPolicy

from . import alarms as A
from .config import XRAY_ACTIONS, XRAY_MANAGED_POLICIES, effective_config, schema
from .stack_index import Grant, Node, StackIndex
from .values import UNKNOWN, as_list, as_number, describe, matches_any, parse_json


def _exempt(cfg: dict, node: Node) -> bool:
    return matches_any(cfg.get("exemptNames") or [], node.logical, node.physical)


def _stack_policy(name: str, description: str, level: EnforcementLevel, config_schema,
                  check: Callable[[StackIndex, dict, Callable], None]) -> StackValidationPolicy:
    def validate(args, report_violation):
        cfg = effective_config(args, config_schema)
        check(StackIndex.build(args.resources), cfg, report_violation)
    validate.__name__ = f"validate_{name.replace('-', '_')}"
    return StackValidationPolicy(name=name, description=description, enforcement_level=level,
                                 validate=validate, config_schema=config_schema)


def _timeout_seconds(fn: Node) -> Any:
    value = as_number(fn.props.get("timeout"))
    return 3.0 if value is None else value  # Lambda's default timeout


# -- lambda-error-alarm ---------------------------------------------------------------------------

ERROR_ALARM_SCHEMA = schema({
    "namespace": {"type": "string", "default": "AWS/Lambda"},
    "metricName": {"type": "string", "default": "Errors"},
})


def check_error_alarm(index: StackIndex, cfg: dict, report) -> None:
    def is_errors(m: A.Metric) -> bool:
        # An unknown namespace/name in a metric query could be anything: it links only through
        # property dependencies, which is what "unknown" deserves.
        return (m.namespace in (cfg["namespace"], UNKNOWN)) and (m.name in (cfg["metricName"], UNKNOWN))

    linked, orphans = index.alarms_by_function(is_errors)
    unlinked_unknown = [a for a in orphans if any(m.dimension("FunctionName") is UNKNOWN for m in A.metrics(a.props))]
    for fn in index.functions:
        if _exempt(cfg, fn) or any(m.name == cfg["metricName"] for _, m in linked.get(fn.urn, [])):
            continue
        if any(m.name is UNKNOWN for _, m in linked.get(fn.urn, [])):
            continue  # a metric query that depends on this function but is unknown until the update
        if fn.physical is UNKNOWN and unlinked_unknown:
            continue  # both sides unknown and not related by dependencies: judged after the update
        report(f"Lambda function '{fn.label()}' has no CloudWatch alarm on {cfg['namespace']} {cfg['metricName']} "
               f"with dimension FunctionName={describe(fn.physical) if fn.physical is not UNKNOWN else fn.logical}. "
               f"Add a MetricAlarm (plain metric or a metric_queries entry) whose dimensions.FunctionName is this "
               f"function's name, e.g. built from function.name (FR-040, SC-017).", fn.urn)


# -- lambda-latency-alarm -------------------------------------------------------------------------

LATENCY_SCHEMA = schema({
    "minFraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.80,
                    "description": "Lowest allowed p-Duration threshold as a fraction of the timeout (FR-061)."},
    "maxFraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.90,
                    "description": "Highest allowed p-Duration threshold as a fraction of the timeout (FR-061)."},
    "streamingLatencyMetrics": {"type": "array", "items": {"type": "string"},
                                "default": ["EventLatencyMs", "ConnectionSetupMs"],
                                "description": "Percentile metrics that count as a streaming function's latency alarm (D7)."},
})


def check_latency_alarm(index: StackIndex, cfg: dict, report) -> None:
    streaming = index.streaming_functions()
    durations, _ = index.alarms_by_function(
        lambda m: m.namespace == "AWS/Lambda" and m.name == "Duration" and m.is_percentile)
    stream_metrics = set(cfg["streamingLatencyMetrics"])
    stream_alarms, _ = index.alarms_by_function(lambda m: m.name in stream_metrics and m.is_percentile)
    low, high = float(cfg["minFraction"]), float(cfg["maxFraction"])
    for fn in index.functions:
        if _exempt(cfg, fn):
            continue
        if fn.urn in streaming:
            if not stream_alarms.get(fn.urn):
                report(f"Streaming function '{fn.label()}' (behind a RESPONSE_STREAM Function URL) has no latency "
                       f"alarm: its Duration is the stream length, so alarm a percentile of one of "
                       f"{sorted(stream_metrics)} with dimensions.FunctionName = its name, e.g. EventLatencyMs p95 "
                       f"at the 3,000 ms SLO (D7, FR-042).", fn.urn)
            continue
        timeout = _timeout_seconds(fn)
        found = durations.get(fn.urn, [])
        if not found:
            band = "" if timeout is UNKNOWN else (f" (here {low * timeout * 1000:,.0f}-{high * timeout * 1000:,.0f} ms "
                                                 f"for its {timeout:g} s timeout)")
            report(f"Lambda function '{fn.label()}' has no AWS/Lambda Duration percentile alarm (e.g. "
                   f"extended_statistic='p95'). Add one at {low:.0%}-{high:.0%} of the timeout{band} (D7, FR-041).",
                   fn.urn)
            continue
        if timeout is UNKNOWN:
            continue
        thresholds = [as_number(alarm.props.get("threshold")) for alarm, _ in found]
        if any(t is UNKNOWN or (t is not None and low * timeout * 1000 <= t <= high * timeout * 1000)
               for t in thresholds):
            continue
        alarm = found[0][0]
        shown = ", ".join(describe(t) for t in thresholds)
        report(f"Duration alarm '{A.alarm_name(alarm.props, alarm.logical)}' of function '{fn.label()}' has threshold "
               f"{shown} ms, outside {low:.0%}-{high:.0%} of the {timeout:g} s timeout "
               f"({low * timeout * 1000:,.0f}-{high * timeout * 1000:,.0f} ms). Derive it from the timeout "
               f"(85% = {0.85 * timeout * 1000:,.0f} ms) instead of typing it (D7, FR-061).", alarm.urn)


# -- streaming-no-exec-wrapper --------------------------------------------------------------------

WRAPPER_SCHEMA = schema({"variable": {"type": "string", "default": "AWS_LAMBDA_EXEC_WRAPPER"}})


def _env(fn: Node) -> Any:
    env = fn.props.get("environment")
    if env is UNKNOWN:
        return UNKNOWN
    variables = env.get("variables") if isinstance(env, dict) else None
    return variables if variables is UNKNOWN or isinstance(variables, dict) else {}


def check_no_exec_wrapper(index: StackIndex, cfg: dict, report) -> None:
    var = cfg["variable"]
    for urn, urls in index.streaming_functions().items():
        fn = index.by_urn[urn]
        env = _env(fn)
        if _exempt(cfg, fn) or env is UNKNOWN or var not in env:
            continue
        report(f"Streaming function '{fn.label()}' (RESPONSE_STREAM URL '{urls[0].logical}') sets {var}="
               f"{describe(env[var])}. Remove it: the ADOT wrapper double-wraps the handler and botocore; run the "
               f"collector extension as an OTLP sidecar on localhost:4318 instead (FR-046, D1).", fn.urn)


# -- streaming-otel-config ------------------------------------------------------------------------

OTEL_SCHEMA = schema({
    "expected": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                 "default": {"OTEL_PROPAGATORS": ["xray-lambda"],
                             "OTEL_TRACES_SAMPLER": ["parentbased_always_on"],
                             "OTEL_EXPORTER_OTLP_ENDPOINT": ["http://localhost:4318", "http://127.0.0.1:4318"],
                             "OTEL_EXPORTER_OTLP_PROTOCOL": ["http/protobuf"]},
                 "description": "Environment variable -> allowed values (D2, FR-052/054/056)."},
    "maxExporterTimeoutSeconds": {"type": "number", "minimum": 0, "default": 2,
                                  "description": "Upper bound of OTEL_EXPORTER_OTLP_TRACES_TIMEOUT (D3)."},
    "serviceNameVariables": {"type": "array", "items": {"type": "string"},
                             "default": ["OTEL_SERVICE_NAME", "POWERTOOLS_SERVICE_NAME"],
                             "description": "Variables that must be set and equal (FR-047)."},
})


def check_otel_config(index: StackIndex, cfg: dict, report) -> None:
    for urn in index.streaming_functions():
        fn = index.by_urn[urn]
        env = _env(fn)
        if _exempt(cfg, fn) or env is UNKNOWN:
            continue
        problems = []
        for var, allowed in (cfg.get("expected") or {}).items():
            value = env.get(var)
            if value is UNKNOWN:
                continue
            normalized = value.rstrip("/") if isinstance(value, str) else value
            if normalized not in [a.rstrip("/") for a in allowed]:
                problems.append(f"{var}={describe(value)} (want {' or '.join(allowed)})")
        traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        endpoints = (cfg.get("expected") or {}).get("OTEL_EXPORTER_OTLP_ENDPOINT") or []
        if isinstance(traces_endpoint, str) and not any(traces_endpoint.startswith(e) for e in endpoints):
            problems.append(f"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={traces_endpoint!r} (want the collector on "
                            f"localhost:4318)")
        timeout = env.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", env.get("OTEL_EXPORTER_OTLP_TIMEOUT"))
        limit = float(cfg["maxExporterTimeoutSeconds"])
        number = as_number(timeout)
        if timeout is not UNKNOWN and (number is None or not 0 < number <= limit):
            problems.append(f"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT={describe(timeout)} (want a value in (0, {limit:g}] s "
                            f"so a dead collector cannot stall the stream's flush, D3)")
        names = [env.get(v) for v in cfg["serviceNameVariables"]]
        if UNKNOWN not in names and (None in names or len(set(names)) != 1):
            shown = ", ".join(f"{v}={describe(n)}" for v, n in zip(cfg["serviceNameVariables"], names))
            problems.append(f"{shown} (set them equal, or the service map shows two nodes, FR-047)")
        if problems:
            report(f"Streaming function '{fn.label()}' has OTel settings that break D2: " + "; ".join(problems)
                   + ". Fix its environment variables.", fn.urn)


# -- xray-write-permissions -----------------------------------------------------------------------

PERMISSIONS_SCHEMA = schema({
    "actions": {"type": "array", "items": {"type": "string"}, "default": XRAY_ACTIONS,
                "description": "Actions every function role must be allowed (FR-017, DESIGN §9)."},
    "managedPolicies": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        "default": XRAY_MANAGED_POLICIES,
                        "description": "Managed policy name -> the actions it grants."},
    "unknownPolicyDocuments": {"type": "string", "enum": ["fail", "pass"], "default": "fail",
                               "description": "At preview, a policy document built from unknown values cannot be "
                                              "read: 'fail' does not count it as a grant (keep X-Ray grants in a "
                                              "static document), 'pass' gives the role the benefit of the doubt."},
})


def _statements(doc: Any) -> list:
    statements = as_list(doc.get("Statement")) if isinstance(doc, dict) else []
    return [] if statements is UNKNOWN else [s for s in statements if isinstance(s, dict)]


def _action_matches(patterns: Any, action: str) -> Any:
    patterns = as_list(patterns)
    if patterns is UNKNOWN:
        return UNKNOWN
    return any(isinstance(p, str) and fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _covers_any_resource(resources: Any) -> bool:
    resources = as_list(resources)
    return resources is UNKNOWN or any(r == "*" or (isinstance(r, str) and ":xray:" in r) for r in resources)


def _evaluate(grants: list[Grant], actions: list[str], managed: dict) -> tuple[set, list]:
    """(actions not granted, origins of the grants that were unknown)."""
    allowed, denied, unknown = set(), set(), []
    for grant in grants:
        if grant.managed_arn is not None or grant.document is None:
            arn = grant.managed_arn
            if arn is UNKNOWN:
                unknown.append(grant.origin)
            elif isinstance(arn, str):
                granted = managed.get(arn.rsplit("/", 1)[-1], [])
                allowed |= {a for a in actions if _action_matches(granted, a) is True}
            continue
        if grant.document is UNKNOWN:
            unknown.append(grant.origin)
            continue
        for st in _statements(grant.document):
            if not _covers_any_resource(st.get("Resource", "*" if "NotResource" in st else None)):
                continue
            for action in actions:
                if "Action" in st:
                    hit = _action_matches(st["Action"], action)
                elif "NotAction" in st:
                    hit = _action_matches(st["NotAction"], action)
                    hit = UNKNOWN if hit is UNKNOWN else not hit
                else:
                    continue
                if hit is UNKNOWN:
                    unknown.append(grant.origin)
                elif hit:
                    (denied if st.get("Effect") == "Deny" else allowed).add(action)
    return set(actions) - (allowed - denied), unknown


def check_xray_permissions(index: StackIndex, cfg: dict, report) -> None:
    actions = list(cfg["actions"])
    for fn in index.functions:
        if _exempt(cfg, fn):
            continue
        roles, value = index.role_of_function(fn)
        if not roles:
            continue  # a role from outside this stack (or unknown and unrelated): nothing to judge here
        role = roles[0]
        missing, unknown = _evaluate(index.grants.get(role.urn, []), actions, cfg["managedPolicies"])
        if not missing or (unknown and cfg.get("unknownPolicyDocuments") == "pass"):
            continue
        caveat = (f" ({len(set(unknown))} policy document(s) unknown until deploy were not counted: "
                  f"{', '.join(sorted(set(unknown))[:3])}; keep the X-Ray grant in a static document)" if unknown else "")
        report(f"Lambda function '{fn.label()}': its role '{role.label()}' is not allowed "
               f"{', '.join(sorted(missing))}{caveat}. Attach arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess or "
               f"add an inline policy allowing {', '.join(actions)} on Resource '*' (FR-017; without GetSampling* "
               f"the SDK falls back to 1 trace/s).", fn.urn)


# -- tracing-cost-budget --------------------------------------------------------------------------

BUDGET_SCHEMA = schema({
    "thresholdsUsd": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0},
                      "default": [10, 25, 50], "description": "Monthly amounts that must notify (FR-038, D11)."},
})


def _budget_amounts(budget: Node) -> tuple[set, bool]:
    limit = as_number(budget.props.get("limitAmount"))
    notes = as_list(budget.props.get("notifications"))
    if notes is UNKNOWN:
        return set(), True
    amounts, unknown = set(), False
    for note in notes:
        if not isinstance(note, dict):
            unknown = True
            continue
        threshold = as_number(note.get("threshold"))
        kind = note.get("thresholdType") or "PERCENTAGE"
        if threshold is UNKNOWN or kind is UNKNOWN:
            unknown = True
        elif threshold is None:
            continue
        elif kind == "ABSOLUTE_VALUE":
            amounts.add(round(threshold, 2))
        elif limit is UNKNOWN:
            unknown = True
        elif limit is not None:
            amounts.add(round(limit * threshold / 100.0, 2))
    return amounts, unknown


def check_cost_budget(index: StackIndex, cfg: dict, report) -> None:
    wanted = {round(float(t), 2) for t in cfg["thresholdsUsd"]}
    budgets = [b for b in index.budgets if not _exempt(cfg, b)]
    covered, unknown = set(), False
    for budget in budgets:
        amounts, maybe = _budget_amounts(budget)
        covered |= amounts
        unknown |= maybe
    missing = sorted(wanted - covered)
    if not missing or unknown:
        return
    where = budgets[0].urn if budgets else None
    have = (f"the budgets notify at {', '.join(f'${a:g}' for a in sorted(covered))}" if budgets
            else "the stack has no aws.budgets.Budget")
    report(f"No budget notifies at {', '.join(f'${a:g}' for a in missing)} per month ({have}). Add an "
           f"aws.budgets.Budget on X-Ray cost with notifications at {', '.join(f'${a:g}' for a in sorted(wanted))} "
           f"(FR-038, SC-016).", where)


# -- dashboard-shows-all-alarms -------------------------------------------------------------------

DASHBOARD_SCHEMA = schema({
    "dashboardNames": {"type": "array", "items": {"type": "string"}, "default": ["*"],
                       "description": "Glob patterns of the dashboards whose alarm widgets count."},
    "alarmTypes": {"type": "array", "items": {"type": "string"},
                   "default": [A.METRIC_ALARM, A.COMPOSITE_ALARM]},
})


def _shown_alarm_names(body: Any) -> set:
    names = set()
    for widget in as_list(body.get("widgets")) if isinstance(body, dict) else []:
        if not isinstance(widget, dict) or widget.get("type") != "alarm":
            continue
        props = widget.get("properties")
        for arn in as_list(props.get("alarms")) if isinstance(props, dict) else []:
            if isinstance(arn, str):
                names.add(arn.split(":alarm:", 1)[1] if ":alarm:" in arn else arn)
    return names


def check_dashboard_alarms(index: StackIndex, cfg: dict, report) -> None:
    dashboards = [d for d in index.dashboards
                  if matches_any(cfg["dashboardNames"], d.logical, d.props.get("dashboardName"))]
    alarms = [a for a in index.alarms if a.resource.resource_type in cfg["alarmTypes"] and not _exempt(cfg, a)]
    if not alarms:
        return
    if not dashboards:
        report(f"The stack has {len(alarms)} alarms but no CloudWatch dashboard with an alarm widget. Add an "
               f"aws.cloudwatch.Dashboard whose body has a widget of type 'alarm' listing every alarm ARN (FR-044, "
               f"SC-022).", None)
        return
    shown, shown_urns, unknown_body = set(), set(), False
    for dash in dashboards:
        body = parse_json(dash.props.get("dashboardBody"))
        if body is UNKNOWN:
            unknown_body = True  # the alarms it was computed from are the ones it shows
            shown_urns |= {getattr(r, "urn", None) for r in dash.pdeps("dashboardBody")}
        else:
            shown |= _shown_alarm_names(body)
    missing = []
    for alarm in alarms:
        name = A.alarm_name(alarm.props, alarm.logical) if alarm.resource.resource_type == A.METRIC_ALARM else (
            alarm.props.get("alarmName") or alarm.logical)
        if alarm.urn in shown_urns or (isinstance(name, str) and name in shown):
            continue
        if name is UNKNOWN and unknown_body:
            continue
        missing.append((alarm, name))
    if missing:
        names = ", ".join(str(n) for _, n in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        report(f"Dashboard '{dashboards[0].logical}' does not show {len(missing)} of {len(alarms)} alarms: {names}. "
               f"Generate its alarm widget from the alarm resources so every alarm is listed (FR-044, SC-022).",
               dashboards[0].urn)


# -- canary-role-isolated -------------------------------------------------------------------------

CANARY_SCHEMA = schema({
    "canaryNamePatterns": {"type": "array", "items": {"type": "string"}, "default": ["*canary*"],
                           "description": "Glob patterns on a function's logical or physical name marking a canary."},
})


def check_canary_role(index: StackIndex, cfg: dict, report) -> None:
    users: dict[str, list[Node]] = {}
    role_of: dict[str, str] = {}
    for fn in index.functions:
        roles, value = index.role_of_function(fn)
        key = roles[0].urn if roles else (value if isinstance(value, str) else None)
        if key:
            users.setdefault(key, []).append(fn)
            role_of[fn.urn] = key
    for fn in index.functions:
        if not matches_any(cfg["canaryNamePatterns"], fn.logical, fn.physical) or _exempt(cfg, fn):
            continue
        key = role_of.get(fn.urn)
        others = [o for o in users.get(key, []) if o.urn != fn.urn] if key else []
        if others:
            role = index.by_urn.get(key)
            report(f"Canary function '{fn.label()}' shares its role '{role.label() if role else key}' with "
                   f"{', '.join(o.label() for o in others)}. Give the canary its own IAM role so an application "
                   f"permission change cannot blind the monitor (FR-051).", fn.urn)


def stack_policies() -> list[StackValidationPolicy]:
    M, ADV = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY
    return [
        _stack_policy("lambda-error-alarm", "Every Lambda function must have an AWS/Lambda Errors alarm.", M,
                      ERROR_ALARM_SCHEMA, check_error_alarm),
        _stack_policy("lambda-latency-alarm", "Every Lambda function must have a latency alarm derived from its "
                      "timeout (streaming functions: their own latency metric).", M, LATENCY_SCHEMA,
                      check_latency_alarm),
        _stack_policy("streaming-no-exec-wrapper", "A function behind a RESPONSE_STREAM Function URL must not set "
                      "AWS_LAMBDA_EXEC_WRAPPER.", M, WRAPPER_SCHEMA, check_no_exec_wrapper),
        _stack_policy("streaming-otel-config", "A streaming function's OpenTelemetry settings must match D2.", M,
                      OTEL_SCHEMA, check_otel_config),
        _stack_policy("xray-write-permissions", "Every Lambda function's role must be allowed to write X-Ray "
                      "traces and read sampling rules.", M, PERMISSIONS_SCHEMA, check_xray_permissions),
        _stack_policy("tracing-cost-budget", "A budget must notify at the configured X-Ray cost thresholds.", ADV,
                      BUDGET_SCHEMA, check_cost_budget),
        _stack_policy("dashboard-shows-all-alarms", "The operations dashboard's alarm widget must list every alarm.",
                      ADV, DASHBOARD_SCHEMA, check_dashboard_alarms),
        _stack_policy("canary-role-isolated", "The canary function's IAM role must be used by no other function.", M,
                      CANARY_SCHEMA, check_canary_role),
    ]
