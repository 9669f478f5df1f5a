"""The webhook inbox in SQL.

Storing is one idempotent insert (`ON CONFLICT DO NOTHING`). Applying
starts with a claim: the subscriptions of the oldest due events, read with
`FOR UPDATE SKIP LOCKED` on PostgreSQL so that every replica can apply at
once without waiting on one another, each then locked
(adapters/subscription_locks.py) with every pending event of it. The claim
lasts as long as the transaction: a process that dies mid-way leaves
nothing claimed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, delete, func, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from billing_server.adapters import subscription_locks
from billing_server.adapters.event_inbox import EVENTS_CHANNEL, MAX_ERROR_LENGTH, AbstractEventInbox
from billing_server.adapters.orm import StripeEventRow
from billing_server.adapters.unnest_insert import column_arrays, unnest_insert
from billing_server.domain.events import InboundEvent
from billing_server.domain.stored_events import (
    OVERDUE_AFTER,
    PENDING_STATUSES,
    Backlog,
    EventStatus,
    StoredEvent,
)

# Bulk writes go to the table itself: the ORM's bulk path costs more per row.
_EVENTS = cast(Table, StripeEventRow.__table__)


class SqlAlchemyEventInbox(AbstractEventInbox):
    def __init__(self, session: Session) -> None:
        self.session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self.made_due = False

    def store(self, events: Sequence[tuple[InboundEvent, str | None]], now: datetime) -> list[bool]:
        rows = {event.id: _new_row(event, traceparent, now) for event, traceparent in events}
        if not rows:
            return []
        if self._postgres:
            # One statement for the batch: insert, and ring every replica's
            # applier (once) when anything due was stored.
            columns = column_arrays(_EVENTS, list(rows.values()))
            found = self.session.execute(
                _POSTGRES_STORE, {**columns, "channel": EVENTS_CHANNEL}
            ).all()
        else:
            statement = (
                sqlite.insert(_EVENTS)
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(_EVENTS.c.event_id, _EVENTS.c.status)
            )
            found = self.session.execute(statement, list(rows.values())).all()
        inserted = {str(i): str(s) for i, s in found}
        if any(status == "received" for status in inserted.values()):
            self.made_due = True
        # A second copy within the same batch is a duplicate like any other.
        first_of: set[str] = set()
        stored: list[bool] = []
        for event, _ in events:
            stored.append(event.id in inserted and event.id not in first_of)
            first_of.add(event.id)
        return stored

    def get(self, event_id: str) -> StoredEvent | None:
        row = self.session.execute(
            select(_EVENTS).where(_EVENTS.c.event_id == event_id)
        ).one_or_none()
        return stored_event(row) if row is not None else None

    def lock_subject(self, subject_id: str) -> bool:
        return bool(subscription_locks.try_lock(self.session, [subject_id]))

    def due_without_subject(self, now: datetime, limit: int) -> list[StoredEvent]:
        query = (
            select(_EVENTS)
            .where(
                _pending(),
                _EVENTS.c.next_attempt_at <= now,
                _EVENTS.c.subject_id.is_(None),
            )
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        return [stored_event(row) for row in self.session.execute(query)]

    def claim_due(self, now: datetime, skip: Collection[str], limit: int) -> list[str]:
        query = (
            select(_EVENTS.c.subject_id)
            .where(
                _pending(),
                _EVENTS.c.next_attempt_at <= now,
                _EVENTS.c.subject_id.is_not(None),
            )
            .order_by(_EVENTS.c.next_attempt_at)
            # Subscriptions often have a few events due at once: read a few
            # rows per subscription wanted.
            .limit(limit * 4)
        )
        if skip:
            query = query.where(_EVENTS.c.subject_id.not_in(skip))
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        due = list(dict.fromkeys(str(s) for s in self.session.scalars(query)))[:limit]
        taken = subscription_locks.try_lock(self.session, due)
        return [s for s in due if s in taken]

    def pending_for_all(self, subject_ids: Collection[str]) -> dict[str, list[StoredEvent]]:
        if not subject_ids:
            return {}
        query = (
            select(_EVENTS)
            .where(_pending(), _EVENTS.c.subject_id.in_(sorted(set(subject_ids))))
            .order_by(_EVENTS.c.created_at, _EVENTS.c.received_at)
        )
        if self._postgres:
            query = query.with_for_update()
        found: dict[str, list[StoredEvent]] = {s: [] for s in subject_ids}
        for row in self.session.execute(query):
            found[str(row.subject_id)].append(stored_event(row))
        return found

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
        if not event_ids:
            return
        finished = status in ("processed", "rejected")
        values: dict[str, Any] = {
            "status": status,
            "outcome": outcome,
            "reason": reason,
            "attempts": _EVENTS.c.attempts + 1,
            "last_error": error[:MAX_ERROR_LENGTH] if error else None,
            "next_attempt_at": None if finished else (next_attempt_at or now),
            "processed_at": now if finished else None,
        }
        if customer_id is not None:
            values["customer_id"] = customer_id
        self.session.execute(
            update(_EVENTS).where(_EVENTS.c.event_id.in_(list(event_ids))).values(**values)
        )

    def postpone(self, event_ids: Collection[str], until: datetime) -> None:
        if event_ids:
            self.session.execute(
                update(_EVENTS)
                .where(_EVENTS.c.event_id.in_(list(event_ids)))
                .values(next_attempt_at=until)
            )

    def resolve(
        self,
        event_id: str,
        *,
        subject_id: str | None,
        customer_id: str | None,
        account_hint: str | None,
        api_version: str | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "subject_id": subject_id,
            "customer_id": customer_id,
            "account_hint": account_hint,
        }
        if api_version is not None:
            values["api_version"] = api_version
        self.session.execute(update(_EVENTS).where(_EVENTS.c.event_id == event_id).values(**values))

    def release_deferred(
        self, now: datetime, *, customer_id: str | None = None, subject_id: str | None = None
    ) -> int:
        conditions = [_EVENTS.c.status == "deferred"]
        if customer_id is not None:
            conditions.append(_EVENTS.c.customer_id == customer_id)
        if subject_id is not None:
            conditions.append(_EVENTS.c.subject_id == subject_id)
        result = self.session.execute(
            update(_EVENTS).where(*conditions).values(next_attempt_at=now)
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            self._note_due()
        return count

    def make_due(self, event_ids: Collection[str], now: datetime) -> int:
        if not event_ids:
            return 0
        picked = _EVENTS.c.event_id.in_(list(event_ids))
        waiting = self.session.execute(
            update(_EVENTS).where(picked, _pending()).values(next_attempt_at=now)
        )
        # A finished event is taken from the start again, as if just received.
        finished = self.session.execute(
            update(_EVENTS)
            .where(picked, _EVENTS.c.status.in_(("processed", "rejected")))
            .values(
                status="received", outcome=None, reason=None, processed_at=None, next_attempt_at=now
            )
        )
        count = sum(int(getattr(r, "rowcount", 0) or 0) for r in (finished, waiting))
        if count:
            self._note_due()
        return count

    def listing(self, statuses: Collection[str], limit: int) -> list[StoredEvent]:
        query = (
            select(_EVENTS)
            .where(_EVENTS.c.status.in_(list(statuses)))
            .order_by(_EVENTS.c.received_at, _EVENTS.c.event_id)
            .limit(limit)
        )
        return [stored_event(row) for row in self.session.execute(query)]

    def backlog(self, now: datetime) -> Backlog:
        pending: dict[str, int] = dict.fromkeys(PENDING_STATUSES, 0)
        oldest: datetime | None = None
        grouped = (
            select(_EVENTS.c.status, func.count(), func.min(_EVENTS.c.received_at))
            .where(_pending())
            .group_by(_EVENTS.c.status)
        )
        for status, count, first in self.session.execute(grouped):
            pending[str(status)] = int(count)
            if first is not None:
                oldest = first if oldest is None else min(oldest, first)
        overdue = self.session.scalar(
            select(func.count()).where(
                _EVENTS.c.status == "deferred",
                _EVENTS.c.received_at < now - OVERDUE_AFTER,
            )
        )
        return Backlog(pending, oldest, int(overdue or 0))

    def known(self, event_ids: Iterable[str]) -> set[str]:
        ids = list(event_ids)
        if not ids:
            return set()
        return set(
            self.session.scalars(select(_EVENTS.c.event_id).where(_EVENTS.c.event_id.in_(ids)))
        )

    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        batch = (
            select(_EVENTS.c.event_id)
            .where(
                _EVENTS.c.status.in_(("processed", "rejected")),
                _EVENTS.c.processed_at < cutoff,
            )
            .limit(limit)
        )
        result = self.session.execute(delete(_EVENTS).where(_EVENTS.c.event_id.in_(batch)))
        return int(getattr(result, "rowcount", 0) or 0)

    def _note_due(self) -> None:
        self.made_due = True
        if self._postgres:
            # Heard by every replica's listener when, and only if, this commits.
            self.session.execute(select(func.pg_notify(EVENTS_CHANNEL, "")))


_POSTGRES_STORE = text(
    f"WITH stored AS ({unnest_insert(_EVENTS)}"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id, status),"
    " rung AS (SELECT pg_notify(:channel, '') FROM stored WHERE status = 'received' LIMIT 1)"
    " SELECT stored.event_id, stored.status FROM stored LEFT JOIN rung ON true"
)


def _new_row(event: InboundEvent, traceparent: str | None, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "type": event.type,
        "created_at": event.created,
        "api_version": event.api_version,
        "payload": event.payload,
        # Nothing in an ignored event can apply: it is finished on arrival.
        "status": "processed" if event.ignored else "received",
        "outcome": "ignored" if event.ignored else None,
        "reason": None,
        "attempts": 0,
        "last_error": None,
        "subject_id": event.subject_id,
        "customer_id": event.customer_id,
        "account_hint": event.account_hint,
        "next_attempt_at": None if event.ignored else now,
        "traceparent": traceparent,
        "received_at": now,
        "processed_at": now if event.ignored else None,
    }


def _pending() -> ColumnElement[bool]:
    # Spelled as the partial indexes' predicate, so that they are used.
    return _EVENTS.c.status.in_(PENDING_STATUSES)


def stored_event(row: Row[Any]) -> StoredEvent:
    return StoredEvent(
        id=row.event_id,
        type=row.type,
        status=row.status,
        outcome=row.outcome,
        reason=row.reason,
        attempts=row.attempts,
        payload=row.payload,
        api_version=row.api_version,
        subject_id=row.subject_id,
        customer_id=row.customer_id,
        account_hint=row.account_hint,
        created=row.created_at,
        received_at=row.received_at,
        processed_at=row.processed_at,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        traceparent=row.traceparent,
    )
