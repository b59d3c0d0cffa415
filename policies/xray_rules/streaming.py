"""Streaming functions (behind a RESPONSE_STREAM Function URL): traced by OpenTelemetry through the
collector extension, never by the ADOT exec wrapper (D1-D3 in docs/decisions.md)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationPolicy

from contract import streaming

from .config import Config, json_list, json_map
from .define import Stack, stack_policy
from .stack_index import Node, StackIndex
from .values import UNKNOWN, as_number, describe

#: OpenTelemetry's own variable names (the SDK reads them; the accepted values come from the contract).
ENDPOINT_VAR = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_VAR = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
TRACES_TIMEOUT_VAR = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
TIMEOUT_VAR = "OTEL_EXPORTER_OTLP_TIMEOUT"
PROTOCOL_VAR = "OTEL_EXPORTER_OTLP_PROTOCOL"
TRACES_PROTOCOL_VAR = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
#: OTLP/HTTP: the SDK appends this to the base endpoint; a per-signal traces endpoint is used as given.
TRACES_PATH = "/v1/traces"

#: (scheme, host, port, path) of an endpoint URL, compared field by field, never as a string prefix.
UrlKey = tuple[str, str | None, int | None, str]


def _url_key(value: Any) -> UrlKey | None:
    """An endpoint URL, parsed (host lower-cased, port defaulted by scheme, no trailing slash); None if it is none."""
    if not isinstance(value, str):
        return None
    try:
        url = urlsplit(value.strip())
        port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    except ValueError:  # a port that is not a number
        return None
    if not url.scheme or not url.hostname:
        return None
    return url.scheme, url.hostname, port, url.path.rstrip("/")


def _streaming_functions(index: StackIndex, cfg: Config) -> list[Node]:
    return [index.by_urn[urn] for urn in index.streaming]


def _env(fn: Node) -> Any:
    env = fn.props.get("environment")
    if env is UNKNOWN:
        return UNKNOWN
    variables = env.get("variables") if isinstance(env, dict) else None
    return variables if variables is UNKNOWN or isinstance(variables, dict) else {}


# -- streaming-no-exec-wrapper --------------------------------------------------------------------

def check_no_exec_wrapper(stack: Stack, report: ReportViolation) -> None:
    var = stack.config["variable"]
    for fn in stack.subjects:
        env = _env(fn)
        if env is UNKNOWN or var not in env:
            continue
        url = stack.index.streaming[fn.urn][0]
        report(f"Streaming function '{fn.label()}' (RESPONSE_STREAM URL '{url.logical}') sets {var}="
               f"{describe(env[var])}. Remove it: the ADOT wrapper double-wraps the handler and botocore; run the "
               f"collector extension as an OTLP sidecar on {streaming.COLLECTOR_ENDPOINT} instead (FR-046, D1).",
               fn.urn)


# -- streaming-otel-config ------------------------------------------------------------------------

def _otel_problems(env: dict, cfg: Config) -> list[str]:
    problems = []
    expected = cfg.get("expected") or {}
    for var, allowed in expected.items():
        value = env.get(var)
        if value is UNKNOWN:
            continue
        if var == ENDPOINT_VAR:
            ok = _url_key(value) is not None and _url_key(value) in {_url_key(a) for a in allowed}
        else:
            ok = value in allowed
        if not ok:
            problems.append(f"{var}={describe(value)} (want {' or '.join(allowed)})")
    endpoints = [key for key in map(_url_key, expected.get(ENDPOINT_VAR) or []) if key]
    traces_endpoint = env.get(TRACES_ENDPOINT_VAR)
    if traces_endpoint is not None and traces_endpoint is not UNKNOWN:
        wanted = {(scheme, host, port, path + TRACES_PATH) for scheme, host, port, path in endpoints}
        if _url_key(traces_endpoint) not in wanted:
            problems.append(f"{TRACES_ENDPOINT_VAR}={describe(traces_endpoint)} (want the collector's traces path, "
                            f"{streaming.COLLECTOR_ENDPOINT}{TRACES_PATH}: the SDK uses this variable as given)")
    traces_protocol = env.get(TRACES_PROTOCOL_VAR)
    protocols = expected.get(PROTOCOL_VAR)
    if traces_protocol is not None and traces_protocol is not UNKNOWN and protocols and traces_protocol not in protocols:
        problems.append(f"{TRACES_PROTOCOL_VAR}={describe(traces_protocol)} (want {' or '.join(protocols)}: it "
                        f"overrides {PROTOCOL_VAR} for traces)")
    timeout = env.get(TRACES_TIMEOUT_VAR, env.get(TIMEOUT_VAR))
    limit = float(cfg["maxExporterTimeoutSeconds"])
    number = as_number(timeout)
    if timeout is not UNKNOWN and (number is None or not 0 < number <= limit):
        problems.append(f"{TRACES_TIMEOUT_VAR}={describe(timeout)} (want a value in (0, {limit:g}] s so a dead "
                        f"collector cannot stall the stream's flush, D3)")
    names = [env.get(v) for v in cfg["serviceNameVariables"]]
    if UNKNOWN not in names and (None in names or len(set(names)) != 1):
        shown = ", ".join(f"{v}={describe(n)}" for v, n in zip(cfg["serviceNameVariables"], names, strict=True))
        problems.append(f"{shown} (set them equal, or the service map shows two nodes, FR-047)")
    return problems


def check_otel_config(stack: Stack, report: ReportViolation) -> None:
    for fn in stack.subjects:
        env = _env(fn)
        if env is UNKNOWN:
            continue
        problems = _otel_problems(env, stack.config)
        if problems:
            report(f"Streaming function '{fn.label()}' has OTel settings that break D2: " + "; ".join(problems)
                   + ". Fix its environment variables.", fn.urn)


def policies() -> list[StackValidationPolicy]:
    M = EnforcementLevel.MANDATORY
    return [
        stack_policy(
            name="streaming-no-exec-wrapper", level=M, subjects=_streaming_functions, check=check_no_exec_wrapper,
            config={"variable": {"type": "string", "default": streaming.EXEC_WRAPPER_VAR}},
            describe=lambda d: f"A function behind a RESPONSE_STREAM Function URL must not set {d['variable']}."),
        stack_policy(
            name="streaming-otel-config", level=M, subjects=_streaming_functions, check=check_otel_config,
            config={
                "expected": {"type": "object",
                             "additionalProperties": {"type": "array", "items": {"type": "string"}},
                             "default": json_map(streaming.ACCEPTED),
                             "description": "Environment variable -> allowed values (D2, FR-052/054/056)."},
                "maxExporterTimeoutSeconds": {"type": "number", "minimum": 0,
                                              "default": streaming.MAX_EXPORTER_TIMEOUT_S,
                                              "description": f"Upper bound of {TRACES_TIMEOUT_VAR} (D3)."},
                "serviceNameVariables": {"type": "array", "items": {"type": "string"},
                                         "default": json_list(streaming.SERVICE_NAME_VARS),
                                         "description": "Variables that must be set and equal (FR-047)."},
            },
            describe=lambda d: (f"A streaming function's OpenTelemetry environment must set {', '.join(d['expected'])} "
                                f"to an accepted value, an exporter timeout of at most "
                                f"{d['maxExporterTimeoutSeconds']:g} s, and {' and '.join(d['serviceNameVariables'])} "
                                f"equal (D2, D3).")),
    ]
