"""Notification: SNS (new items), the hourly schedule (digest) or a direct invocation -> SendGrid.

The SendGrid SDK goes through python-http-client/urllib, so the send is wrapped in an explicit ``remote``
subsegment ``sendgrid_send`` with HTTP status, duration, recipient count and bounded error details
(FR-028, SC-011). Addresses never reach the trace, only their count does. A failed send raises, so SNS
retries and the DLQ keeps the message.
"""
from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Union

from boto3.dynamodb.conditions import Key
from pydantic import BaseModel, Field, StringConstraints
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail

from common import annotate, budget, get_secret, lambda_handler, logger, remote_call, require_env, table, tracer
from common.events import MalformedEvent, parse_event, scheduled_event, sns_messages
from contract import env
from contract.data import TICKER_PATTERN, USERS_BY_ENTITY_STATUS

DEFAULT_SENDGRID_BASE_URL = "https://api.sendgrid.com"
MAX_RECIPIENTS = 1000  # SendGrid's personalizations limit per request
SENDGRID_TIMEOUT_SECONDS = 10  # per request, cut to the invocation's time left

Ticker = Annotated[str, StringConstraints(pattern=TICKER_PATTERN)]
Address = Annotated[str, StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class NewItems(BaseModel):
    """What ingestion publishes on the notification topic."""

    type: Literal["new_items"]
    count: int = Field(default=0, ge=0)
    tickers: list[Ticker] = Field(min_length=1)


class Digest(BaseModel):
    type: Literal["digest"] = "digest"


class DirectRequest(BaseModel):
    """A direct invocation: ``{"type": "direct", "recipients": [...], "subject": "...", "text": "..."}``."""

    type: Literal["direct"]
    recipients: list[Address] = Field(min_length=1)
    subject: Annotated[str, StringConstraints(min_length=1, max_length=998)]
    text: str = ""


Request = Union[NewItems, Digest, DirectRequest]


class SendFailed(RuntimeError):
    """SendGrid refused the mail (status in the message); raised so the trigger retries."""


def classify(event: Any) -> tuple[str, Request]:
    """(trigger, request): ``sns`` (every record's new items, merged), ``schedule`` (digest) or ``direct``.

    The records of one SNS event are merged into one notification: each subscriber gets one mail per
    invocation, and a retry of the invocation resends that one mail rather than some of several.
    """
    if isinstance(event, dict) and "Records" in event:
        messages = sns_messages(event, NewItems, expected="notification expects SNS records whose message is "
                                "{'type': 'new_items', 'tickers': [...], 'count': n}")
        return "sns", NewItems(type="new_items", count=sum(m.count for m in messages),
                               tickers=sorted({t.upper() for m in messages for t in m.tickers}))
    if isinstance(event, dict) and "detail-type" in event:
        scheduled_event(event, "notification")
        return "schedule", Digest()
    if isinstance(event, dict) and event.get("type") == "direct":
        return "direct", parse_event(event, DirectRequest, expected="a direct request needs non-empty "
                                     "'recipients' (addresses) and a 'subject'")
    raise MalformedEvent("unrecognised trigger: expected SNS Records, a Scheduled Event or {'type': 'direct', ...}")


@tracer.capture_method
def subscribers(cfg: dict[str, str], tickers: list[str] | None) -> list[str]:
    """E-mail addresses of active alert subscriptions, restricted to ``tickers`` when given."""
    resp = table(cfg[env.USERS_TABLE]).query(
        IndexName=USERS_BY_ENTITY_STATUS,
        KeyConditionExpression=Key("entity_type").eq("ALERT") & Key("status").eq("active"))
    wanted = {t.upper() for t in tickers} if tickers is not None else None
    return sorted({i["email"] for i in resp.get("Items", []) if i.get("email")
                   and (wanted is None or wanted & {t.upper() for t in i.get("tickers", [])})})


def send(cfg: dict[str, str], api_key: str, recipients: list[str], subject: str, text: str) -> int:
    """One SendGrid request, one personalization per recipient (no one sees another's address)."""
    base_url = os.environ.get(env.SENDGRID_BASE_URL) or DEFAULT_SENDGRID_BASE_URL
    mail = Mail(from_email=cfg[env.ALERT_FROM_EMAIL], to_emails=recipients, subject=subject,
                plain_text_content=text, is_multiple=True)
    sg = SendGridAPIClient(api_key=api_key, host=base_url)
    sg.client.timeout = budget.http_timeout("sendgrid request", SENDGRID_TIMEOUT_SECONDS)
    with remote_call("sendgrid_send", method="POST", url=f"{base_url}/v3/mail/send",
                     recipient_count=len(recipients)) as call:
        try:
            response = sg.send(mail)
        except HTTPError as exc:
            call.status = exc.status_code
            raise SendFailed(f"SendGrid answered {exc.status_code} {exc.reason}") from exc
        call.status = response.status_code
    return call.status


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    trigger, request = classify(event)
    cfg = require_env(*env.REQUIRED["notification"])
    annotate(trigger=trigger)
    if isinstance(request, DirectRequest):
        recipients, subject, text = list(request.recipients), request.subject, request.text
    elif isinstance(request, NewItems):
        recipients = subscribers(cfg, request.tickers)
        subject = f"{request.count} new items for {', '.join(request.tickers[:10])}"
        text = f"New sentiment items were ingested for {', '.join(request.tickers)}."
    else:
        recipients = subscribers(cfg, None)
        subject, text = "Hourly sentiment digest", "Your hourly sentiment digest is ready on the dashboard."
    if not recipients:
        logger.info("no recipients", extra={"trigger": trigger})
        return {"trigger": trigger, "sent": 0}
    api_key = get_secret(cfg[env.SENDGRID_SECRET_ARN])["api_key"]
    sent = 0
    for start in range(0, len(recipients), MAX_RECIPIENTS):
        batch = recipients[start:start + MAX_RECIPIENTS]
        send(cfg, api_key, batch, subject, text)
        sent += len(batch)
    logger.info("notification sent", extra={"trigger": trigger, "recipient_count": sent})
    return {"trigger": trigger, "sent": sent}
