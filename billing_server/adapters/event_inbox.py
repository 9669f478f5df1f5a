"""The webhook inbox: Stripe events stored by id before they are applied."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_server.adapters.orm import StripeEventRow
from billing_server.domain.events import StripeEvent

EventStatus = Literal["received", "processed", "failed", "deferred"]
# Stored error texts are cut to this length.
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    status: str
    outcome: str | None
    attempts: int
    payload: str


class AbstractEventInbox(abc.ABC):
    @abc.abstractmethod
    def receive(self, event: StripeEvent, now: datetime) -> tuple[StoredEvent, bool]:
        """Stores the event unless its id is known; True when stored now."""

    @abc.abstractmethod
    def get(self, event_id: str, *, for_update: bool = False) -> StoredEvent | None: ...

    @abc.abstractmethod
    def mark(
        self,
        event_id: str,
        status: EventStatus,
        now: datetime,
        *,
        outcome: str | None = None,
        error: str | None = None,
        customer_id: str | None = None,
    ) -> None:
        """Records an attempt's result; every call counts one attempt."""

    @abc.abstractmethod
    def waiting_for(self, customer_id: str) -> list[str]:
        """Ids of events deferred until this customer is linked, oldest first."""

    @abc.abstractmethod
    def retryable(self, limit: int) -> list[str]:
        """Ids of failed and deferred events, oldest first."""

    @abc.abstractmethod
    def known(self, event_ids: Iterable[str]) -> set[str]: ...

    @abc.abstractmethod
    def delete_processed_before(self, cutoff: datetime, limit: int) -> int: ...


class SqlAlchemyEventInbox(AbstractEventInbox):
    def __init__(self, session: Session) -> None:
        self.session = session

    def receive(self, event: StripeEvent, now: datetime) -> tuple[StoredEvent, bool]:
        existing = self.get(event.id)
        if existing is not None:
            return existing, False
        try:
            with self.session.begin_nested():
                self.session.add(
                    StripeEventRow(
                        event_id=event.id,
                        type=event.type,
                        created_at=event.created,
                        payload=event.payload,
                        status="received",
                        attempts=0,
                        received_at=now,
                    )
                )
        except IntegrityError:
            raced = self.get(event.id)
            assert raced is not None
            return raced, False
        return StoredEvent(event.id, event.type, "received", None, 0, event.payload), True

    def get(self, event_id: str, *, for_update: bool = False) -> StoredEvent | None:
        query = select(StripeEventRow).where(StripeEventRow.event_id == event_id)
        if for_update:
            query = query.with_for_update()
        row = self.session.scalars(query).one_or_none()
        if row is None:
            return None
        return StoredEvent(
            row.event_id, row.type, row.status, row.outcome, row.attempts, row.payload
        )

    def mark(
        self,
        event_id: str,
        status: EventStatus,
        now: datetime,
        *,
        outcome: str | None = None,
        error: str | None = None,
        customer_id: str | None = None,
    ) -> None:
        self.session.execute(
            update(StripeEventRow)
            .where(StripeEventRow.event_id == event_id)
            .values(
                status=status,
                outcome=outcome,
                attempts=StripeEventRow.attempts + 1,
                last_error=error[:MAX_ERROR_LENGTH] if error else None,
                customer_id=customer_id,
                processed_at=now if status == "processed" else None,
            )
        )

    def waiting_for(self, customer_id: str) -> list[str]:
        return list(
            self.session.scalars(
                select(StripeEventRow.event_id)
                .where(
                    StripeEventRow.status == "deferred",
                    StripeEventRow.customer_id == customer_id,
                )
                .order_by(StripeEventRow.created_at, StripeEventRow.received_at)
            )
        )

    def retryable(self, limit: int) -> list[str]:
        return list(
            self.session.scalars(
                select(StripeEventRow.event_id)
                .where(StripeEventRow.status.in_(("failed", "deferred", "received")))
                .order_by(StripeEventRow.created_at, StripeEventRow.received_at)
                .limit(limit)
            )
        )

    def known(self, event_ids: Iterable[str]) -> set[str]:
        ids = list(event_ids)
        if not ids:
            return set()
        return set(
            self.session.scalars(
                select(StripeEventRow.event_id).where(StripeEventRow.event_id.in_(ids))
            )
        )

    def delete_processed_before(self, cutoff: datetime, limit: int) -> int:
        batch = (
            select(StripeEventRow.event_id)
            .where(StripeEventRow.status == "processed", StripeEventRow.processed_at < cutoff)
            .limit(limit)
        )
        result = self.session.execute(
            delete(StripeEventRow).where(StripeEventRow.event_id.in_(batch))
        )
        return int(getattr(result, "rowcount", 0) or 0)
