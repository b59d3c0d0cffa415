"""Bounded by the time left: a dependency that accepts connections and never answers (``BlackHole``) costs a handler
its remaining time at most, never its timeout.

Each handler is invoked with a SHORT time left (``SHORT_MS`` through the Lambda context) and one dependency
black-holed: DynamoDB, CloudWatch, Secrets Manager, the news APIs, SendGrid. It must return or raise, with a clear
error, within that time, with a 2x margin for a loaded machine. The arithmetic behind it (every client's worst
case fits in the time left; the dashboard's fits in API Gateway's 29 s) is checked on ``common.budget`` itself.
"""
from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from contract import env, metrics
from contract.api import GATEWAY_TIMEOUT_SECONDS
from tests.handlers.blackhole import BlackHole
from tests.handlers.conftest import SCHEDULED, FakeContext, H, api_event, lambda_name, sns_event

#: The time left each invocation gets: short, so a test takes seconds, and above the analysis safety margin.
SHORT_MS = 3_000
#: The bound each handler must finish within: its time left, with a 2x margin.
BOUND_S = 2 * SHORT_MS / 1000

ENDPOINT_VARIABLES = {"dynamodb": "AWS_ENDPOINT_URL_DYNAMODB", "cloudwatch": "AWS_ENDPOINT_URL_CLOUDWATCH",
                      "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER"}


@pytest.fixture
def hole():
    with BlackHole() as black_hole:
        yield black_hole


def _black_hole(monkeypatch, hole: BlackHole, dependency: str) -> None:
    if dependency in ENDPOINT_VARIABLES:
        monkeypatch.setenv(ENDPOINT_VARIABLES[dependency], hole.url)
    elif dependency == "news":
        monkeypatch.setenv(env.TIINGO_BASE_URL, hole.url)
        monkeypatch.setenv(env.FINNHUB_BASE_URL, hole.url)
    elif dependency == "sendgrid":
        monkeypatch.setenv(env.SENDGRID_BASE_URL, hole.url)
    H.common.reset_clients()


def _timed(lam, function: str, event, **kwargs):
    context = FakeContext(lambda_name(function), remaining_ms=lambda: SHORT_MS)
    started = time.monotonic()
    inv = lam.invoke(function, event, context=context, **kwargs)
    elapsed = time.monotonic() - started
    print(f"black hole: {function}: {elapsed:.2f} s with {SHORT_MS / 1000:.1f} s left")  # the report's figures
    assert elapsed <= BOUND_S, f"{function} took {elapsed:.2f} s with {SHORT_MS} ms left"
    return inv


def _pending(world) -> dict:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    world.aws.client("dynamodb").put_item(TableName=world.env[env.ITEMS_TABLE], Item={
        "source_id": {"S": "tiingo#abc"}, "timestamp": {"S": now}, "status": {"S": "pending"}})
    return {"source_id": "tiingo#abc", "timestamp": now, "ticker": "AAPL", "text": "Apple delivers a superb quarter"}


def _fallback_lines(lam) -> set[str]:
    return {line["metric_name"] for line in lam.logs.lines if line.get(metrics.METRIC_FALLBACK_FIELD)}


# -- the dashboard -------------------------------------------------------------------------------------------------------
def test_dashboard_answers_503_in_time_when_dynamodb_never_answers(lam, monkeypatch, hole):
    _black_hole(monkeypatch, hole, "dynamodb")
    resp = _timed(lam, "dashboard", api_event("/api/v2/items", {"sentiment": "positive"})).result
    assert resp["statusCode"] == 503 and json.loads(resp["body"])["message"]
    assert hole.saw_connection()


# -- ingestion ------------------------------------------------------------------------------------------------------------
def test_ingestion_fails_in_time_when_dynamodb_never_answers(lam, monkeypatch, hole):
    _black_hole(monkeypatch, hole, "dynamodb")
    inv = _timed(lam, "ingestion", SCHEDULED, expect_error=True)
    assert isinstance(inv.error, H.common.DeadlineExceeded) or "timeout" in str(inv.error).lower()


def test_ingestion_fails_in_time_when_secrets_manager_never_answers(lam, monkeypatch, hole):
    _black_hole(monkeypatch, hole, "secretsmanager")
    inv = _timed(lam, "ingestion", SCHEDULED, expect_error=True)
    assert isinstance(inv.error, H.common.DeadlineExceeded) or "timeout" in str(inv.error).lower()


def test_ingestion_completes_in_time_when_cloudwatch_never_answers(lam, fakes, monkeypatch, hole):
    """The run's work is done; its metrics that CloudWatch never took become fallback lines."""
    fakes.tiingo.add("AAPL", "Apple shares soar", "Record quarter")
    _black_hole(monkeypatch, hole, "cloudwatch")
    inv = _timed(lam, "ingestion", SCHEDULED)
    assert inv.result["new_items"] == 1
    assert metrics.NEW_ITEMS_INGESTED in _fallback_lines(lam)


def test_ingestion_completes_in_time_when_the_news_apis_never_answer(lam, monkeypatch, hole):
    """The fetch gets its share of the time left; both sources fail, and the rest of the run still happens."""
    _black_hole(monkeypatch, hole, "news")
    inv = _timed(lam, "ingestion", SCHEDULED)
    assert inv.result["fetch_errors"] == ["finnhub", "tiingo"] and inv.result["new_items"] == 0
    assert not _fallback_lines(lam)  # enough time was left to report


# -- analysis, metrics, notification --------------------------------------------------------------------------------------
def test_analysis_fails_in_time_and_counted_when_dynamodb_never_answers(lam, world, monkeypatch, hole):
    message = _pending(world)
    _black_hole(monkeypatch, hole, "dynamodb")
    inv = _timed(lam, "analysis", sns_event(message), expect_error=True)
    assert isinstance(inv.error, H.analysis.FanoutPartialWrite)
    assert world.metric_sum(metrics.APP_NAMESPACE, metrics.ANALYSIS_ERRORS, {metrics.ENVIRONMENT_DIMENSION: "test"}) == 1


@pytest.mark.parametrize("dependency", ["dynamodb", "cloudwatch"])
def test_metrics_fails_in_time_when_a_dependency_never_answers(dependency, lam, monkeypatch, hole):
    _black_hole(monkeypatch, hole, dependency)
    inv = _timed(lam, "metrics", SCHEDULED, expect_error=True)
    if dependency == "cloudwatch":
        assert isinstance(inv.error, H.metrics.MetricsEmissionError)
        assert metrics.STUCK_ITEMS in _fallback_lines(lam)


@pytest.mark.parametrize("dependency", ["secretsmanager", "sendgrid"])
def test_notification_fails_in_time_when_a_dependency_never_answers(dependency, lam, monkeypatch, hole):
    _black_hole(monkeypatch, hole, dependency)
    _timed(lam, "notification", {"type": "direct", "recipients": ["a@example.com"], "subject": "Hi"},
           expect_error=True)


def test_notification_fails_in_time_when_dynamodb_never_answers(lam, monkeypatch, hole):
    _black_hole(monkeypatch, hole, "dynamodb")
    _timed(lam, "notification", sns_event({"type": "new_items", "count": 1, "tickers": ["AAPL"]}), expect_error=True)


# -- the arithmetic ------------------------------------------------------------------------------------------------------
def _context(ms: int) -> SimpleNamespace:
    return SimpleNamespace(get_remaining_time_in_millis=lambda: ms)


@pytest.mark.parametrize("remaining_ms", [1_400, 2_000, 3_000, 6_000, 10_000, 30_000, 60_000, 900_000])
def test_every_call_fits_in_the_time_left(remaining_ms):
    """The policy a call gets has a worst case (every attempt timing out, plus botocore's backoff) that ends before
    the deadline, which keeps the response margin free."""
    budget = H.common.budget
    budget.begin(_context(remaining_ms))
    try:
        left = budget.time_left()
        assert left <= remaining_ms / 1000 - budget.RESPONSE_MARGIN_S
        chosen = budget.policy()
        assert chosen.worst_case_s <= left
        config = chosen.config()
        assert config.retries["total_max_attempts"] == chosen.attempts
        assert config.connect_timeout + config.read_timeout == chosen.per_attempt_s
        left = budget.time_left()
        assert budget.http_timeout("x", 10) * 2 <= left  # a connect and a read that both time out
    finally:
        budget.finish()


def test_too_little_time_left_refuses_the_call():
    budget = H.common.budget
    budget.begin(_context(int((budget.RESPONSE_MARGIN_S + budget.POLICIES[-1].worst_case_s) * 1000) - 10))
    try:
        with pytest.raises(H.common.DeadlineExceeded):
            budget.policy()
        with pytest.raises(H.common.DeadlineExceeded):
            budget.check_attempt("one more attempt", budget.POLICIES[-1].per_attempt_s)
    finally:
        budget.finish()


def test_dashboard_answers_within_api_gateways_timeout(lam, monkeypatch):
    """However long the function may run, the dashboard's deadline is API Gateway's 29 s (less the response margin),
    and a call's worst case with the full time ends before the gateway gives up on the request."""
    budget = H.common.budget
    seen: list[float] = []
    real = H.dashboard.require_env

    def require_env(*names: str) -> dict[str, str]:
        seen.append(budget.time_left())
        return real(*names)
    monkeypatch.setattr(H.dashboard, "require_env", require_env)
    context = FakeContext(lambda_name("dashboard"), remaining_ms=lambda: 60_000)
    lam.invoke("dashboard", api_event("/api/v2/items", {"sentiment": "positive"}), context=context)
    assert 0 < seen[0] <= GATEWAY_TIMEOUT_SECONDS - budget.RESPONSE_MARGIN_S
    budget.begin(context, cap_s=GATEWAY_TIMEOUT_SECONDS)
    try:
        assert budget.policy().worst_case_s <= GATEWAY_TIMEOUT_SECONDS - budget.RESPONSE_MARGIN_S
    finally:
        budget.finish()
