"""What became of a subscription's pending events: written with the state
they led to, reported once that commits, or settled without applying."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from billing_server.domain.events import EventKind
from billing_server.domain.stored_events import EventStatus, StoredEvent
from billing_server.domain.subscriptions import SubscriptionSnapshot
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.ingest import type_label
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

_RETRY_FIRST, _RETRY_LONGEST = timedelta(seconds=2), timedelta(minutes=10)


@dataclass(frozen=True)
class Pending:
    """A stored event as the applier reads it: its row, and its payload read once."""

    stored: StoredEvent
    kind: EventKind
    state: SubscriptionSnapshot | None

    @property
    def id(self) -> str:
        return self.stored.id


@dataclass
class Outcomes:
    """The events' results, written together, reported after the commit."""

    processed: dict[str, list[Pending]] = field(default_factory=lambda: defaultdict(list))
    rejected: dict[str, list[Pending]] = field(default_factory=lambda: defaultdict(list))
    deferred: list[Pending] = field(default_factory=list)
    payment_failures: int = 0

    def write(self, uow: AbstractUnitOfWork, now: datetime) -> None:
        for outcome, events in self.processed.items():
            uow.events.finish([e.id for e in events], "processed", now, outcome=outcome)
        for reason, events in self.rejected.items():
            uow.events.finish([e.id for e in events], "rejected", now, reason=reason)

    def report(self, deps: Dependencies, now: datetime) -> None:
        telemetry = deps.telemetry
        for outcome, events in self.processed.items():
            for event in events:
                telemetry.event_processed(type_label(event.stored.type), outcome)
                telemetry.event_applied_after((now - event.stored.received_at).total_seconds())
        for reason, events in self.rejected.items():
            for event in events:
                telemetry.event_processed(type_label(event.stored.type), "rejected")
                telemetry.event_rejected(reason)
                telemetry.event_applied_after((now - event.stored.received_at).total_seconds())
        for event in self.deferred:
            telemetry.event_processed(type_label(event.stored.type), "deferred")
        for _ in range(self.payment_failures):
            telemetry.payment_failed()


def settle(
    deps: Dependencies,
    subject: str,
    status: EventStatus,
    *,
    reason: str | None = None,
    error: str | None = None,
) -> None:
    """Ends this attempt at the subject's pending events without applying
    them: rejected for good, or failed and tried again after a backoff."""
    now = deps.clock()
    with deps.uow(write=True) as uow:
        if not uow.events.lock_subject(subject):
            return
        events = uow.events.pending_for(subject)
        attempts = max((e.attempts for e in events), default=0)
        uow.events.finish(
            [e.id for e in events],
            status,
            now,
            reason=reason,
            error=error,
            next_attempt_at=now + backoff(attempts, _RETRY_FIRST, _RETRY_LONGEST),
        )
        uow.commit()
    for event in events:
        deps.telemetry.event_processed(type_label(event.type), status)
        if status == "rejected" and reason is not None:
            deps.telemetry.event_rejected(reason)


def postpone(deps: Dependencies, subject: str, delay: timedelta) -> None:
    """Leaves the subject's pending events for later, counting no attempt."""
    now = deps.clock()
    with deps.uow(write=True) as uow:
        if not uow.events.lock_subject(subject):
            return
        uow.events.postpone([e.id for e in uow.events.pending_for(subject)], now + delay)
        uow.commit()


def backoff(attempts: int, first: timedelta, longest: timedelta) -> timedelta:
    return min(first * (1 << min(attempts, 20)), longest)
