"""Trigger events validated by Powertools' Parser (pydantic models of the AWS event shapes), or a clear error.

An asynchronous trigger (EventBridge, SNS) that hands a function something it cannot process must fail the
invocation with a reason, so the trigger's retries and then its dead-letter queue keep the event; it must
never pass for a no-op, and never fail with a ``KeyError`` deep in the handler. Every handler parses its
whole event here first, before any work.
"""
from __future__ import annotations

from typing import Any, Optional, TypeVar

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.envelopes import SnsEnvelope
from aws_lambda_powertools.utilities.parser.envelopes.base import BaseEnvelope
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

T = TypeVar("T")

#: What an EventBridge rule's schedule sends (``detail-type`` and ``source`` of every scheduled event).
SCHEDULE_DETAIL_TYPE = "Scheduled Event"
SCHEDULE_SOURCE = "aws.events"
#: A reason names at most this many invalid fields (the first ones): enough to fix the event, bounded for logs.
MAX_REASONS = 5


class MalformedEvent(ValueError):
    """The event is not what this function's trigger sends: raised, so retries and the DLQ keep it."""


def reasons(exc: ValidationError) -> str:
    """Pydantic's errors as ``where: what`` pairs, without the (possibly large) input values."""
    errors = exc.errors(include_url=False, include_input=False)
    text = "; ".join(f"{'.'.join(str(part) for part in e['loc']) or 'event'}: {e['msg']}" for e in errors[:MAX_REASONS])
    return text + (f"; and {len(errors) - MAX_REASONS} more" if len(errors) > MAX_REASONS else "")


def parse_event(event: Any, model: type[T], *, expected: str, envelope: Optional[type[BaseEnvelope]] = None,
                error: type[MalformedEvent] = MalformedEvent) -> Any:
    """``event`` as ``model`` (inside ``envelope``), or ``error`` saying what was ``expected`` and why not."""
    if not isinstance(event, dict):
        raise error(f"{expected}; got a {type(event).__name__}, not a JSON object")
    try:
        # parse's overloads take either no envelope or an envelope class, not an Optional one
        return parse(event=event, model=model) if envelope is None else parse(event=event, model=model, envelope=envelope)
    except ValidationError as exc:
        raise error(f"{expected}; {reasons(exc)}") from None
    except TypeError as exc:
        # Some of Powertools' models check their input in a before-validator that assumes an object (the SNS
        # notification model iterates ``Sns``): a ``null`` there raises TypeError, not a ValidationError.
        raise error(f"{expected}; the event's structure is not the trigger's ({exc})") from None


def scheduled_event(event: Any, function: str) -> EventBridgeModel:
    """The EventBridge scheduled event that ticks ``function``; anything else (an SQS or SNS event, another
    EventBridge event) is a ``MalformedEvent``."""
    expected = (f"{function} expects an EventBridge scheduled event "
                f"(detail-type {SCHEDULE_DETAIL_TYPE!r} from {SCHEDULE_SOURCE})")
    tick = parse_event(event, EventBridgeModel, expected=expected)
    if tick.detail_type != SCHEDULE_DETAIL_TYPE or tick.source != SCHEDULE_SOURCE:
        raise MalformedEvent(f"{expected}; got detail-type {tick.detail_type!r} from {tick.source!r}")
    return tick


def sns_messages(event: Any, model: type[T], *, expected: str, error: type[MalformedEvent] = MalformedEvent) -> list[T]:
    """The JSON message of every record of an SNS event (at least one), each validated as ``model``."""
    messages = parse_event(event, model, expected=expected, envelope=SnsEnvelope, error=error)
    if not messages:
        raise error(f"{expected}; Records: the list is empty")
    return messages
