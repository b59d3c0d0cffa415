"""Notification: SNS (new items), the hourly schedule (digest) or a direct invocation -> SendGrid.

The SendGrid SDK goes through python-http-client/urllib, so the send is wrapped in an explicit ``remote``
subsegment ``sendgrid_send`` with HTTP status, duration, recipient count and bounded error details
(FR-028, SC-011). Addresses never reach the trace, only their count does. A failed send raises, so SNS
retries and the DLQ keeps the message.
"""
from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities import parameters
from boto3.dynamodb.conditions import Key
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail

from common import annotate, lambda_handler, logger, remote_call, require_env, table, tracer
from contract import env
from contract.data import USERS_BY_ENTITY_STATUS

DEFAULT_SENDGRID_BASE_URL = "https://api.sendgrid.com"
MAX_RECIPIENTS = 1000  # SendGrid's personalizations limit per request


class MalformedEvent(ValueError):
    """Neither an SNS notification, a schedule event nor a direct request: raised, so nothing is lost quietly."""


class SendFailed(RuntimeError):
    """SendGrid refused the mail (status in the message); raised so the trigger retries."""


def classify(event: Any) -> tuple[str, dict[str, Any]]:
    """(trigger, request): ``sns`` with the new-items message, ``schedule`` (digest) or ``direct``."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"notification expects a JSON object, got {type(event).__name__}")
    if "Records" in event:
        try:
            message = json.loads(event["Records"][0]["Sns"]["Message"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise MalformedEvent(f"SNS event without a JSON Sns.Message: {exc!r}") from exc
        if not isinstance(message, dict) or message.get("type") != "new_items" or not isinstance(message.get("tickers"), list):
            raise MalformedEvent("SNS message must be {'type': 'new_items', 'tickers': [...], 'count': n}")
        return "sns", message
    if event.get("detail-type") == "Scheduled Event":
        return "schedule", {"type": "digest"}
    if event.get("type") == "direct":
        if not isinstance(event.get("recipients"), list) or not event["recipients"] or not event.get("subject"):
            raise MalformedEvent("a direct request needs non-empty 'recipients' and a 'subject'")
        return "direct", event
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
    if trigger == "direct":
        recipients = [str(r) for r in request["recipients"]]
        subject, text = str(request["subject"]), str(request.get("text", ""))
    elif trigger == "sns":
        recipients = subscribers(cfg, request["tickers"])
        subject = f"{request.get('count', 0)} new items for {', '.join(request['tickers'][:10])}"
        text = f"New sentiment items were ingested for {', '.join(request['tickers'])}."
    else:
        recipients = subscribers(cfg, None)
        subject, text = "Hourly sentiment digest", "Your hourly sentiment digest is ready on the dashboard."
    if not recipients:
        logger.info("no recipients", extra={"trigger": trigger})
        return {"trigger": trigger, "sent": 0}
    api_key = parameters.get_secret(cfg[env.SENDGRID_SECRET_ARN], transform="json", max_age=300)["api_key"]
    sent = 0
    for start in range(0, len(recipients), MAX_RECIPIENTS):
        batch = recipients[start:start + MAX_RECIPIENTS]
        send(cfg, api_key, batch, subject, text)
        sent += len(batch)
    logger.info("notification sent", extra={"trigger": trigger, "recipient_count": sent})
    return {"trigger": trigger, "sent": sent}
