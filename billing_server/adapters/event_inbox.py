"""The webhook inbox: Stripe events stored by id, then claimed and applied.

The port; what it hands out is in domain/stored_events.py, and the SQL behind it is in
adapters/sql_event_inbox.py.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from billing_server.domain.events import InboundEvent
from billing_server.domain.stored_events import Backlog, EventStatus, StoredEvent

# PostgreSQL NOTIFY channel: events became due. Every replica's applier wakes.
EVENTS_CHANNEL = "paymentsvc_events_due"
# Stored error texts are cut to this length.
MAX_ERROR_LENGTH = 2000


class AbstractEventInbox(abc.ABC):
    # Set when this transaction made events due: the unit of work wakes the
    # applier once it commits.
    made_due: bool = False

    @abc.abstractmethod
    def store(self, events: Sequence[tuple[InboundEvent, str | None]], now: datetime) -> list[bool]:
        """Stores each (event, traceparent) unless its id is known; True for each stored now."""

    @abc.abstractmethod
    def get(self, event_id: str) -> StoredEvent | None: ...

    @abc.abstractmethod
    def lock_subject(self, subject_id: str) -> bool:
        """Takes the subject's lock unless another transaction holds it."""

    @abc.abstractmethod
    def due_without_subject(self, now: datetime, limit: int) -> list[StoredEvent]:
        """Due events stored before their subject was known (an older release)."""

    @abc.abstractmethod
    def claim_due(self, now: datetime, skip: Collection[str], limit: int) -> list[str]:
        """Up to `limit` subjects with due events, each locked for this
        transaction, skipping those in `skip` and those others hold."""

    @abc.abstractmethod
    def pending_for_all(self, subject_ids: Collection[str]) -> dict[str, list[StoredEvent]]:
        """Every pending event of each subject, due or not, oldest first."""

    def pending_for(self, subject_id: str) -> list[StoredEvent]:
        return self.pending_for_all([subject_id])[subject_id]

    @abc.abstractmethod
    def finish(
        self,
        event_ids: Collection[str],
        status: EventStatus,
        now: datetime,
        *,
        outcome: str | None = None,
        reason: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        customer_id: str | None = None,
    ) -> None:
        """Records an attempt's result; every call counts one attempt."""

    @abc.abstractmethod
    def postpone(self, event_ids: Collection[str], until: datetime) -> None:
        """Leaves pending events for later without counting an attempt."""

    @abc.abstractmethod
    def resolve(
        self,
        event_id: str,
        *,
        subject_id: str | None,
        customer_id: str | None,
        account_hint: str | None,
        api_version: str | None = None,
    ) -> None:
        """Fills in what the event concerns, learnt after it was stored."""

    @abc.abstractmethod
    def release_deferred(
        self, now: datetime, *, customer_id: str | None = None, subject_id: str | None = None
    ) -> int:
        """Makes events deferred for this customer (or subscription) due now."""

    @abc.abstractmethod
    def make_due(self, event_ids: Collection[str], now: datetime) -> int:
        """Makes these events due now, whatever their status: finished ones
        are taken from the start again."""

    @abc.abstractmethod
    def listing(self, statuses: Collection[str], limit: int) -> list[StoredEvent]:
        """Events of these statuses, oldest first."""

    @abc.abstractmethod
    def backlog(self, now: datetime) -> Backlog: ...

    @abc.abstractmethod
    def known(self, event_ids: Iterable[str]) -> set[str]: ...

    @abc.abstractmethod
    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        """Deletes processed and rejected events finished before `cutoff`."""
