"""Taking in Stripe's deliveries: verify, read, store. Nothing is applied here.

The answer means "durably stored": Stripe stops delivering the event, and
the applier (service_layer/webhooks.py) takes it from the inbox. No Stripe
call and no change to billing state happen on this path, so it answers in
milliseconds whatever Stripe or the backlog is doing.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from billing_server import deadlines
from billing_server.adapters import stripe_events, webhook_signatures
from billing_server.adapters.group_commit import GroupCommit
from billing_server.domain.errors import FailedPrecondition, Unauthenticated
from billing_server.domain.events import HANDLED_TYPES, InboundEvent
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.unit_of_work import UnitOfWorkFactory


class IngestOutcome(enum.StrEnum):
    # Stored; the applier will apply it.
    STORED = "stored"
    # Seen before: nothing done again.
    DUPLICATE = "duplicate"
    # Stored, and nothing in it can apply (another type, a one-off payment).
    IGNORED = "ignored"


@dataclass(frozen=True)
class Ingested:
    event_id: str
    outcome: IngestOutcome


def ingest_delivery(deps: Dependencies, body: bytes, signature: str | None) -> Ingested:
    """Stores a delivery whose Stripe-Signature checks out with our secrets."""
    if not deps.webhooks.secrets:
        raise FailedPrecondition(
            "STRIPE_WEBHOOK_SECRET is not set: the server cannot verify deliveries",
            reason="WEBHOOK_SECRET_MISSING",
        )
    try:
        webhook_signatures.verify(body, signature, deps.webhooks.secrets, deps.webhooks.tolerance_s)
    except webhook_signatures.InvalidSignature as exc:
        raise Unauthenticated(str(exc), reason="WEBHOOK_SIGNATURE_INVALID") from None
    event = stripe_events.read_event(body)
    stored = deps.intake.store(event, deps.telemetry.trace_context())
    if not stored:
        outcome = IngestOutcome.DUPLICATE
    elif event.ignored:
        outcome = IngestOutcome.IGNORED
    else:
        outcome = IngestOutcome.STORED
    deps.telemetry.delivery_received(outcome.value)
    if outcome is IngestOutcome.IGNORED:
        deps.telemetry.event_processed(type_label(event.type), outcome.value)
    return Ingested(event.id, outcome)


def store_events(
    uow: UnitOfWorkFactory,
    events: Sequence[tuple[InboundEvent, str | None]],
    now: datetime,
) -> list[bool]:
    """Stores (event, traceparent) pairs in one transaction; True for each stored now."""
    deadlines.check("storing events")
    with uow(write=True) as work:
        stored = work.events.store(events, now)
        work.commit()
    return stored


class BatchedIntake:
    """Stores deliveries through the group-commit writer: concurrent ones share
    a transaction, and each caller is answered once its commit is done."""

    def __init__(self, writer: GroupCommit[tuple[InboundEvent, str | None], bool]) -> None:
        self._writer = writer

    def store(self, event: InboundEvent, traceparent: str | None) -> bool:
        return self._writer.submit((event, traceparent), timeout_s=deadlines.remaining())


def type_label(event_type: str) -> str:
    """Event types as metric labels: the handled ones, everything else as one."""
    return event_type if event_type in HANDLED_TYPES else "other"
