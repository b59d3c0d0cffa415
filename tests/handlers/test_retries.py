"""Nothing lost on retry: a failed invocation leaves the work for the trigger's retry, which completes it once.

Analysis writes an item's analyzed mark and its eight buckets in one transaction; every failure is counted
(``AnalysisErrors``) and raised; notification handles every record; the scheduled functions refuse events that
are not their schedule's.
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contract import env, metrics
from contract.data import RESOLUTIONS
from tests.handlers.conftest import ENV_DIMS, SCHEDULED, H, inject_aws_error, sns_event, sqs_event


def _pending(world, source_id: str = "tiingo#abc") -> dict:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    world.aws.client("dynamodb").put_item(TableName=world.env[env.ITEMS_TABLE], Item={
        "source_id": {"S": source_id}, "timestamp": {"S": now}, "status": {"S": "pending"}})
    return {"source_id": source_id, "timestamp": now, "ticker": "AAPL", "text": "Apple delivers a superb quarter"}


def _item(world) -> dict:
    (item,) = world.aws.client("dynamodb").scan(TableName=world.env[env.ITEMS_TABLE])["Items"]
    return item


def _rows(world) -> list[dict]:
    return world.aws.client("dynamodb").scan(TableName=world.env[env.TIMESERIES_TABLE])["Items"]


def _errors(world) -> float:
    return world.metric_sum(metrics.APP_NAMESPACE, metrics.ANALYSIS_ERRORS, ENV_DIMS)


def test_failed_analysis_write_leaves_the_item_pending_and_the_retry_completes_it(lam, world):
    """The time-series write fails (every attempt): nothing was written, the item is still pending, the failure is
    counted; SNS's retry writes the mark and all 8 buckets once; a redelivery after that changes nothing."""
    message = _pending(world)
    broken = [True]
    inject_aws_error(H.common.client("dynamodb"), "TransactWriteItems", code="InternalServerError", status=500,
                     when=lambda request: broken[0])
    failed = lam.invoke("analysis", sns_event(message), expect_error=True)
    assert isinstance(failed.error, H.analysis.FanoutPartialWrite)
    assert _item(world)["status"]["S"] == "pending" and _rows(world) == []
    assert _errors(world) == 1.0

    broken[0] = False
    retry = lam.invoke("analysis", sns_event(message))
    assert retry.result == {"analyzed": 1, "skipped": 0}
    assert _item(world)["status"]["S"] == "analyzed"
    assert sorted(r["pk"]["S"] for r in _rows(world)) == sorted(f"AAPL#{r}" for r in RESOLUTIONS)

    again = lam.invoke("analysis", sns_event(message))
    assert again.result == {"analyzed": 0, "skipped": 1}
    assert {r["count"]["N"] for r in _rows(world)} == {"1"}  # counted once, whatever the deliveries
    assert _errors(world) == 1.0


def test_an_unwritable_message_is_refused_before_anything_is_marked(lam, world):
    """A 1,001-character ticker: refused by validation before any write, counted, raised again on each retry (so the
    DLQ keeps it), never turned into "already analyzed" with no time series."""
    message = {**_pending(world), "ticker": "A" * 1001}
    for attempt in (1, 2):
        inv = lam.invoke("analysis", sns_event(message), expect_error=True)
        assert isinstance(inv.error, H.analysis.MalformedMessage) and "ticker" in str(inv.error)
        assert len(str(inv.error)) < 2000  # the reason, not the thousand characters
        assert _errors(world) == float(attempt)
    assert _item(world)["status"]["S"] == "pending" and _rows(world) == []


def test_a_message_for_a_missing_item_is_an_error_not_a_redelivery(lam, world):
    message = _pending(world)
    ghost = {**message, "source_id": "tiingo#never-stored"}
    inv = lam.invoke("analysis", sns_event(ghost), expect_error=True)
    assert isinstance(inv.error, H.analysis.ItemNotFound) and "tiingo#never-stored" in str(inv.error)
    assert _errors(world) == 1.0
    assert _rows(world) == [] and _item(world)["status"]["S"] == "pending"


def test_every_analysis_failure_is_counted(lam, world, monkeypatch):
    """Not only AWS and validation errors: whatever fails the invocation is counted in AnalysisErrors."""
    def broken_scorer(text: str):
        raise RuntimeError("lexicon unavailable")

    monkeypatch.setattr(H.analysis, "score", broken_scorer)
    inv = lam.invoke("analysis", sns_event(_pending(world)), expect_error=True)
    assert isinstance(inv.error, RuntimeError)
    assert _errors(world) == 1.0


def test_a_batch_fails_whole_and_its_retry_skips_what_was_done(lam, world):
    """Two records, the second one's write fails: the invocation fails (SNS retries the event); the retry skips the
    first (already written) and completes the second."""
    first, second = _pending(world, "tiingo#one"), _pending(world, "tiingo#two")
    broken = [True]
    inject_aws_error(H.common.client("dynamodb"), "TransactWriteItems", code="InternalServerError", status=500,
                     when=lambda request: broken[0] and b"tiingo#two" in request.body)
    lam.invoke("analysis", sns_event(first, second), expect_error=True)
    broken[0] = False
    retry = lam.invoke("analysis", sns_event(first, second))
    assert retry.result == {"analyzed": 1, "skipped": 1}
    assert {r["count"]["N"] for r in _rows(world)} == {"2"}


# -- notification: every record ------------------------------------------------------------------------------------
def test_notification_handles_every_record(lam, fakes, world):
    """An SNS event with two records: the subscribers of both records' tickers are mailed, in one mail each."""
    for n, (email, ticker) in enumerate((("tsla@example.com", "TSLA"), ("aapl@example.com", "AAPL"))):
        world.aws.client("dynamodb").put_item(TableName=world.env[env.USERS_TABLE], Item={
            "PK": {"S": f"USER#u{n}"}, "SK": {"S": f"ALERT#{n}"}, "entity_type": {"S": "ALERT"},
            "status": {"S": "active"}, "email": {"S": email}, "tickers": {"L": [{"S": ticker}]}})
    inv = lam.invoke("notification", sns_event({"type": "new_items", "count": 1, "tickers": ["TSLA"]},
                                               {"type": "new_items", "count": 2, "tickers": ["AAPL"]}))
    assert inv.result == {"trigger": "sns", "sent": 2}
    (mail,) = fakes.sendgrid.sent
    assert sorted(p["to"][0]["email"] for p in mail["personalizations"]) == ["aapl@example.com", "tsla@example.com"]
    assert mail["subject"] == "3 new items for AAPL, TSLA"


# -- the scheduled functions tick only on their schedule --------------------------------------------------------------
@pytest.mark.parametrize("function", ["ingestion", "metrics"])
@pytest.mark.parametrize("event", [sqs_event("{}"), sns_event({"type": "new_items", "tickers": ["AAPL"]}), {},
                                   {**SCHEDULED, "detail-type": "Object Created", "source": "aws.s3"}],
                         ids=["sqs", "sns", "empty", "other-eventbridge"])
def test_scheduled_functions_refuse_other_events(function, event, lam, world):
    """An SQS- or SNS-shaped event (a mis-wired trigger) is an error, not a tick: nothing runs."""
    inv = lam.invoke(function, event, expect_error=True)
    assert isinstance(inv.error, H.common.events.MalformedEvent)
    assert "EventBridge scheduled event" in str(inv.error)
    assert world.messages(world.analysis_queue) == []
