"""Circuit breakers from Powertools' circuit breaker utility, stored in the users table, with the failures of
that store on the silent-failure paths ``circuit_breaker_load`` and ``circuit_breaker_save`` (D5).

What the utility does: it counts consecutive failures of the protected call, opens the circuit when they
reach ``failure_threshold`` (the circuit's state is written to DynamoDB on that transition only, so a healthy
run writes nothing), answers ``on_circuit_open`` while it is open, and after ``recovery_timeout`` elects one
caller (a conditional write) to run a half-open probe whose success closes the circuit and whose failure
reopens it. A store it cannot read is treated as closed (fail open), a write it cannot make is logged and
the call's own result is kept.

What this module adds:

* The store's item layout is the users table's ``PK=CIRCUIT#<source>, SK=STATE`` (``contract.data.USERS``):
  the utility's composite-key mode writes ``static_pk_value`` under ``key_attr`` and the circuit name under
  ``sort_key_attr``, so with ``key_attr="SK"`` / ``static_pk_value="STATE"`` / ``sort_key_attr="PK"`` and the
  circuit named ``CIRCUIT#<source>`` the key is exactly that; the TTL goes to the table's ``ttl``.
* Every read of the store runs in a ``circuit_breaker_load`` block and every write in a
  ``circuit_breaker_save`` block, so a store failure is error-marked in X-Ray and counted as
  ``SilentFailure``, then the flow goes on: a failed read is handed back to the utility, which treats the
  circuit as closed (the fetch still runs); a failed write is not (the utility would only log it), so a
  transition that could not be saved is simply retried at the next one, and a probe election whose write
  failed lets this caller probe, failing open like the read. Losing the election to another caller is not a
  failure and is handed back as the utility expects.
* The store uses the client of the moment (``common.aws``), bounded by the invocation's time left.
* Errors that must never be swallowed (``NEVER_SWALLOWED``) are re-raised after the utility returns: its
  fail-open read would otherwise hide a deployment error.
* An item the previous, hand-written breaker left on the same key reads as closed, not as a load failure.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Optional, TypeVar

from aws_lambda_powertools.utilities.circuit_breaker import CircuitBreakerConfig, CircuitInfo, CircuitState, circuit_breaker
from aws_lambda_powertools.utilities.circuit_breaker.persistence import CircuitBreakerDynamoDBPersistence
from aws_lambda_powertools.utilities.circuit_breaker.persistence.base import CircuitBreakerExistingLockError
from aws_lambda_powertools.utilities.circuit_breaker.persistence.record import CircuitStateRecord

from . import aws
from .metrics import silent_failure
from .tracing import NEVER_SWALLOWED

T = TypeVar("T")

CIRCUIT_PREFIX = "CIRCUIT#"
STATE_SORT_KEY = "STATE"
#: An attribute only the previous, hand-written breaker wrote on the same item (with ``failures``).
LEGACY_ATTRIBUTE = "opened_until"


def circuit_name(source: str) -> str:
    return f"{CIRCUIT_PREFIX}{source}"


def _source(name: str) -> str:
    return name.removeprefix(CIRCUIT_PREFIX)


class CountedStore(CircuitBreakerDynamoDBPersistence):
    """The utility's DynamoDB store in the users table, its failures counted on the two silent paths."""

    def __init__(self, table_name: str):
        super().__init__(table_name=table_name, key_attr="SK", static_pk_value=STATE_SORT_KEY, sort_key_attr="PK",
                         expiry_attr="ttl", boto3_client=aws.client("dynamodb"))
        self._fatal = threading.local()

    def _carry(self, exc: Optional[BaseException]) -> None:
        if isinstance(exc, NEVER_SWALLOWED):
            self._fatal.error = exc

    def raise_carried(self) -> None:
        """Re-raise a deployment or instrumentation error the utility swallowed in this thread."""
        error, self._fatal.error = getattr(self._fatal, "error", None), None
        if error is not None:
            raise error

    def _item_to_record(self, item: dict) -> CircuitStateRecord:
        if self.state_attr not in item and LEGACY_ATTRIBUTE in item:
            # left by the hand-written breaker this utility replaced: read as closed (at worst the source is tried
            # once more), and replaced by the utility's own item at the circuit's next transition
            return CircuitStateRecord(name=item[self.sort_key_attr]["S"], state=CircuitState.CLOSED)
        return super()._item_to_record(item)

    def _get_record(self, name: str) -> Optional[CircuitStateRecord]:
        try:
            with silent_failure("circuit_breaker_load", source=_source(name)) as outcome:
                self.client = aws.client("dynamodb")
                record = super()._get_record(name)
        except NEVER_SWALLOWED as exc:
            self._carry(exc)
            raise
        if outcome.error is not None:  # outcome.failed, spelled so that the type narrows
            raise outcome.error  # counted; the utility fails open on it (closed, and not cached)
        return record

    def _write(self, name: str, write: Callable[[], None]) -> None:
        lost_race: Optional[CircuitBreakerExistingLockError] = None
        try:
            with silent_failure("circuit_breaker_save", source=_source(name)):
                self.client = aws.client("dynamodb")
                try:
                    write()
                except CircuitBreakerExistingLockError as exc:  # another caller won the probe: not a failure
                    lost_race = exc
        except NEVER_SWALLOWED as exc:
            self._carry(exc)
            raise
        if lost_race is not None:
            raise lost_race

    def _put_record(self, record: CircuitStateRecord, condition: Optional[str] = None,
                    expected_opened_at: Optional[int] = None) -> None:
        self._write(record.name, lambda: super(CountedStore, self)._put_record(record, condition, expected_opened_at))

    def _update_record(self, record: CircuitStateRecord) -> None:
        self._write(record.name, lambda: super(CountedStore, self)._update_record(record))


@functools.cache
def store(table_name: str) -> CountedStore:
    """One store per table and process: the utility keeps its per-circuit settings on it."""
    return CountedStore(table_name)


def call(source: str, fn: Callable[[], T], *, table_name: str, config: CircuitBreakerConfig,
         on_open: Callable[[CircuitInfo], Any]) -> Any:
    """``fn()`` through ``source``'s circuit; ``on_open(circuit)`` answers instead while it is open."""
    persistence = store(table_name)

    def answer_open(circuit: CircuitInfo) -> Any:
        return on_open(circuit)  # the utility passes the circuit by keyword; ``on_open`` takes it positionally

    protected = circuit_breaker(name=circuit_name(source), persistence_store=persistence, config=config,
                                on_circuit_open=answer_open)(fn)
    try:
        return protected()
    finally:
        persistence.raise_carried()
