"""The webhook inbox held in memory, as SqlAlchemyEventInbox keeps it.

Rows keep the order they were stored in; where the SQL leaves the order to
the database (ties, and queries without ORDER BY), the fake takes that one.
Claims and subject locks always succeed, as on SQLite, where a writing
transaction already holds the whole database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from billing_server.adapters.event_inbox import MAX_ERROR_LENGTH, AbstractEventInbox
from billing_server.domain.events import InboundEvent
from billing_server.domain.stored_events import (
    OVERDUE_AFTER,
    PENDING_STATUSES,
    Backlog,
    EventStatus,
    StoredEvent,
)
from tests.unit.fake_tables import utc

_FINISHED = ("processed", "rejected")


class FakeEventInbox(AbstractEventInbox):
    def __init__(self, rows: dict[str, StoredEvent]) -> None:
        self.rows = rows
        self.made_due = False

    def store(self, events: Sequence[tuple[InboundEvent, str | None]], now: datetime) -> list[bool]:
        # Keyed by id, as the SQL builds its rows: of two copies in one batch,
        # the later one's row is the one inserted.
        new = {event.id: _new_row(event, traceparent, now) for event, traceparent in events}
        inserted = {i: row.status for i, row in new.items() if i not in self.rows}
        self.rows.update({i: new[i] for i in inserted})
        if any(status == "received" for status in inserted.values()):
            self.made_due = True
        first_of: set[str] = set()
        stored: list[bool] = []
        for event, _ in events:
            stored.append(event.id in inserted and event.id not in first_of)
            first_of.add(event.id)
        return stored

    def get(self, event_id: str) -> StoredEvent | None:
        return self.rows.get(event_id)

    def lock_subject(self, subject_id: str) -> bool:
        return True

    def due_without_subject(self, now: datetime, limit: int) -> list[StoredEvent]:
        return [r for r in self.rows.values() if _due(r, now) and r.subject_id is None][:limit]

    def claim_due(self, now: datetime, skip: Collection[str], limit: int) -> list[str]:
        rows = [
            r
            for r in self.rows.values()
            if _due(r, now) and r.subject_id is not None and r.subject_id not in skip
        ]
        rows.sort(key=lambda r: _at(r.next_attempt_at))
        # The SQL reads four rows per subscription wanted, then keeps the first
        # `limit` subscriptions among them.
        subjects = dict.fromkeys(str(r.subject_id) for r in rows[: limit * 4])
        return list(subjects)[:limit]

    def pending_for_all(self, subject_ids: Collection[str]) -> dict[str, list[StoredEvent]]:
        if not subject_ids:
            return {}
        found: dict[str, list[StoredEvent]] = {s: [] for s in subject_ids}
        rows = [r for r in self.rows.values() if _pending(r) and r.subject_id in found]
        for row in sorted(rows, key=lambda r: (r.created, r.received_at)):
            found[str(row.subject_id)].append(row)
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
        finished = status in _FINISHED
        for event_id in self._existing(event_ids):
            row = self.rows[event_id]
            self.rows[event_id] = dataclasses.replace(
                row,
                status=status,
                outcome=outcome,
                reason=reason,
                attempts=row.attempts + 1,
                last_error=error[:MAX_ERROR_LENGTH] if error else None,
                next_attempt_at=None if finished else utc(next_attempt_at or now),
                processed_at=utc(now) if finished else None,
                customer_id=row.customer_id if customer_id is None else customer_id,
            )

    def postpone(self, event_ids: Collection[str], until: datetime) -> None:
        # Whatever their status, as the SQL's UPDATE does.
        self._set(self._existing(event_ids), next_attempt_at=utc(until))

    def resolve(
        self,
        event_id: str,
        *,
        subject_id: str | None,
        customer_id: str | None,
        account_hint: str | None,
        api_version: str | None = None,
    ) -> None:
        row = self.rows.get(event_id)
        if row is None:
            return
        self.rows[event_id] = dataclasses.replace(
            row,
            subject_id=subject_id,
            customer_id=customer_id,
            account_hint=account_hint,
            api_version=row.api_version if api_version is None else api_version,
        )

    def release_deferred(
        self, now: datetime, *, customer_id: str | None = None, subject_id: str | None = None
    ) -> int:
        # A NULL customer or subject matches no filter, as in SQL.
        released = [
            i
            for i, r in self.rows.items()
            if r.status == "deferred"
            and (customer_id is None or r.customer_id == customer_id)
            and (subject_id is None or r.subject_id == subject_id)
        ]
        self._set(released, next_attempt_at=utc(now))
        if released:
            self.made_due = True
        return len(released)

    def make_due(self, event_ids: Collection[str], now: datetime) -> int:
        picked = self._existing(event_ids)
        waiting = [i for i in picked if _pending(self.rows[i])]
        finished = [i for i in picked if self.rows[i].status in _FINISHED]
        self._set(waiting, next_attempt_at=utc(now))
        # A finished event is taken from the start again, as if just received.
        self._set(
            finished,
            status="received",
            outcome=None,
            reason=None,
            processed_at=None,
            next_attempt_at=utc(now),
        )
        count = len(waiting) + len(finished)
        if count:
            self.made_due = True
        return count

    def listing(self, statuses: Collection[str], limit: int) -> list[StoredEvent]:
        rows = [r for r in self.rows.values() if r.status in statuses]
        return sorted(rows, key=lambda r: (r.received_at, r.id))[:limit]

    def backlog(self, now: datetime) -> Backlog:
        pending: dict[str, int] = dict.fromkeys(PENDING_STATUSES, 0)
        waiting = [r for r in self.rows.values() if _pending(r)]
        for row in waiting:
            pending[row.status] += 1
        oldest = min((r.received_at for r in waiting), default=None)
        overdue = sum(
            r.status == "deferred" and r.received_at < now - OVERDUE_AFTER
            for r in self.rows.values()
        )
        return Backlog(pending, oldest, overdue)

    def known(self, event_ids: Iterable[str]) -> set[str]:
        return {i for i in event_ids if i in self.rows}

    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        old = [
            i
            for i, r in self.rows.items()
            if r.status in _FINISHED and r.processed_at is not None and r.processed_at < cutoff
        ][:limit]
        for event_id in old:
            del self.rows[event_id]
        return len(old)

    def _existing(self, event_ids: Collection[str]) -> list[str]:
        return [i for i in dict.fromkeys(event_ids) if i in self.rows]

    def _set(self, event_ids: Iterable[str], **values: object) -> None:
        for event_id in event_ids:
            self.rows[event_id] = dataclasses.replace(self.rows[event_id], **values)  # type: ignore[arg-type]


def _pending(row: StoredEvent) -> bool:
    return row.status in PENDING_STATUSES


def _due(row: StoredEvent, now: datetime) -> bool:
    # A NULL next attempt is never `<= now` in SQL.
    return _pending(row) and row.next_attempt_at is not None and row.next_attempt_at <= now


def _at(moment: datetime | None) -> datetime:
    assert moment is not None  # only due rows are sorted
    return moment


def _new_row(event: InboundEvent, traceparent: str | None, now: datetime) -> StoredEvent:
    received = utc(now)
    return StoredEvent(
        id=event.id,
        type=event.type,
        # Nothing in an ignored event can apply: it is finished on arrival.
        status="processed" if event.ignored else "received",
        outcome="ignored" if event.ignored else None,
        reason=None,
        attempts=0,
        payload=event.payload,
        api_version=event.api_version,
        subject_id=event.subject_id,
        customer_id=event.customer_id,
        account_hint=event.account_hint,
        created=utc(event.created),
        received_at=received,
        processed_at=received if event.ignored else None,
        next_attempt_at=None if event.ignored else received,
        last_error=None,
        traceparent=traceparent,
    )
