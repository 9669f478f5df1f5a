"""Applying Stripe's events exactly once, and never older over newer.

Every event is stored in the inbox by its id before anything else happens,
so a delivery the gateway acknowledged is never lost. Applying it and
marking it processed commit together, so it is applied at most once.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing_server.adapters import stripe_objects
from billing_server.adapters.event_inbox import StoredEvent
from billing_server.domain.errors import InvalidArgument, NotFound
from billing_server.domain.events import (
    HANDLED_TYPES,
    Freshness,
    StripeEvent,
    freshness,
    parse_event,
)
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.recording import Observation, Recorded, record_subscription
from billing_server.service_layer.syncing import record_fetched
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)


class IngestOutcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    IGNORED = "ignored"
    DEFERRED = "deferred"
    # Event-shaped, but naming nothing that could apply: stored, refused.
    INVALID = "invalid"


@dataclass(frozen=True)
class Ingested:
    event_id: str
    outcome: IngestOutcome


@dataclass(frozen=True)
class _Result:
    outcome: IngestOutcome
    # A customer this event linked to an account: its deferred events can go.
    linked_customer: str | None = None


def ingest_event(deps: Dependencies, payload: bytes) -> Ingested:
    event = parse_event(payload)
    with deps.uow(write=True) as uow:
        stored, _ = uow.events.receive(event, deps.clock())
        uow.commit()
    if stored.status == "processed":
        deps.telemetry.event_processed(_type_label(event.type), IngestOutcome.DUPLICATE)
        return Ingested(event.id, IngestOutcome.DUPLICATE)
    return Ingested(event.id, apply_event(deps, event.id, stored))


def apply_event(
    deps: Dependencies, event_id: str, stored: StoredEvent | None = None
) -> IngestOutcome:
    """Applies a stored event unless it is processed already. Safe to run
    concurrently with itself: the losers find it processed. `stored` saves
    a read when the caller has just stored the event."""
    if stored is None:
        with deps.uow() as uow:
            stored = uow.events.get(event_id)
    if stored is None:
        raise NotFound(f"no stored event {event_id!r}", reason="EVENT_NOT_FOUND")
    if stored.status == "processed":
        return IngestOutcome.DUPLICATE
    event = parse_event(stored.payload)
    label = _type_label(event.type)
    with deps.telemetry.span(f"apply {label}", {"stripe.event_type": label}):
        try:
            handle = _HANDLERS.get(event.type, _ignore)
            result = handle(deps, event)
        except InvalidArgument:
            # Nothing in it can ever apply: keep it for the record, out of
            # the retry queue, and tell the sender.
            _finish(deps, event, IngestOutcome.INVALID)
            deps.telemetry.event_processed(label, IngestOutcome.INVALID)
            raise
        except Exception as exc:
            if not _mark_failed(deps, event_id, exc):
                # A concurrent delivery processed it meanwhile; whatever this
                # one tripped over no longer matters.
                deps.telemetry.event_processed(label, IngestOutcome.DUPLICATE)
                return IngestOutcome.DUPLICATE
            deps.telemetry.event_processed(label, "failed")
            raise
    deps.telemetry.event_processed(label, result.outcome)
    if result.linked_customer is not None:
        apply_deferred(deps, result.linked_customer)
    return result.outcome


def apply_deferred(deps: Dependencies, customer_id: str) -> int:
    """Applies the events that waited for this customer; returns how many."""
    with deps.uow() as uow:
        waiting = uow.events.waiting_for(customer_id)
    applied = 0
    for event_id in waiting:
        try:
            if apply_event(deps, event_id) is not IngestOutcome.DEFERRED:
                applied += 1
        except Exception:
            # Marked failed with its error; `billing-admin events retry` or
            # Stripe's next delivery tries again.
            log.exception("deferred event %s failed", event_id)
    return applied


def _ignore(deps: Dependencies, event: StripeEvent) -> _Result:
    return _finish(deps, event, IngestOutcome.IGNORED)


def _subscription_changed(deps: Dependencies, event: StripeEvent) -> _Result:
    try:
        snapshot = stripe_objects.subscription_snapshot(event.object)
    except (KeyError, TypeError, ValueError):
        # An incomplete payload is no ground to guess: ask Stripe.
        return _fetch_and_record(deps, event, _text(event.object.get("id")), None)
    # One read transaction for everything the decision needs.
    with deps.uow() as uow:
        linked = uow.accounts.account_for_customer(snapshot.customer_id)
        recorded = uow.subscriptions.recorded(snapshot.id)
        # Read after the state: if a concurrent delivery of this very event
        # recorded it, it is seen as processed here, not as "same second".
        stored = uow.events.get(event.id)
    if stored is not None and stored.status == "processed":
        return _Result(IngestOutcome.DUPLICATE)
    account_id = linked or _account_named(deps, snapshot.customer_id, snapshot.metadata)
    if account_id is None:
        return _defer(deps, event, snapshot.customer_id)
    order = freshness(event.created, recorded.state_at if recorded else None)
    if order is Freshness.OLDER:
        return _finish(deps, event, IngestOutcome.STALE)
    if order is Freshness.SAME_SECOND:
        return _fetch_and_record(deps, event, snapshot.id, account_id)

    now = deps.clock()
    with deps.uow(write=True) as uow:
        if not _claim(uow, event.id):
            return _Result(IngestOutcome.DUPLICATE)
        uow.accounts.ensure(account_id, now)
        uow.accounts.attach_customer(account_id, snapshot.customer_id)
        recorded_as, _ = record_subscription(
            uow,
            deps.catalog,
            snapshot,
            account_id,
            Observation.from_event(event.created),
            now,
            telemetry=deps.telemetry,
        )
        outcome = IngestOutcome.STALE if recorded_as is Recorded.STALE else IngestOutcome.APPLIED
        uow.events.mark(event.id, "processed", now, outcome=outcome.value)
        uow.commit()
    return _Result(outcome, snapshot.customer_id)


def _checkout_completed(deps: Dependencies, event: StripeEvent) -> _Result:
    session = event.object
    metadata = session.get("metadata") or {}
    account_id = session.get("client_reference_id") or metadata.get("account_id")
    customer_id = _id(session.get("customer"))
    subscription_id = _id(session.get("subscription"))
    if session.get("mode") != "subscription" or not account_id or not subscription_id:
        return _finish(deps, event, IngestOutcome.IGNORED)  # not a checkout of ours
    # The session names its subscription by id only: fetch it.
    return _fetch_and_record(
        deps, event, subscription_id, str(account_id), link_customer=customer_id
    )


def _invoice_paid_or_failed(deps: Dependencies, event: StripeEvent) -> _Result:
    invoice = event.object
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    # Since API version 2025-03-31 an invoice names its subscription under
    # parent.subscription_details; `invoice.subscription` is gone.
    subscription_id = _id(details.get("subscription")) or _id(invoice.get("subscription"))
    if not subscription_id:
        return _finish(deps, event, IngestOutcome.IGNORED)  # not a subscription invoice
    failed_at = event.created if event.type == "invoice.payment_failed" else None
    # The invoice says nothing of the subscription's new state: fetch it (the
    # account is then found from the subscription).
    return _fetch_and_record(deps, event, subscription_id, None, payment_failed_at=failed_at)


def _fetch_and_record(
    deps: Dependencies,
    event: StripeEvent,
    subscription_id: str | None,
    account_id: str | None,
    *,
    link_customer: str | None = None,
    payment_failed_at: datetime | None = None,
) -> _Result:
    if not subscription_id:
        # Nothing Stripe could redeliver would change this: refuse it.
        raise InvalidArgument(f"event {event.id} names no subscription", field="payload")
    started = deps.clock()
    snapshot = deps.stripe.get_subscription(subscription_id)
    if account_id is None:
        account_id = account_for(deps, snapshot.customer_id, snapshot.metadata)
        if account_id is None:
            return _defer(deps, event, snapshot.customer_id)
    customer_id = link_customer or snapshot.customer_id

    def mark(uow: AbstractUnitOfWork, recorded: Recorded) -> None:
        outcome = IngestOutcome.STALE if recorded is Recorded.STALE else IngestOutcome.APPLIED
        uow.events.mark(event.id, "processed", deps.clock(), outcome=outcome.value)
        if payment_failed_at is not None:
            uow.after_commit(deps.telemetry.payment_failed)

    recorded, _ = record_fetched(
        deps,
        account_id,
        snapshot,
        started,
        link_customer=customer_id,
        payment_failed_at=payment_failed_at,
        guard=lambda uow: _claim(uow, event.id),
        also=mark,
    )
    if recorded is None:
        return _Result(IngestOutcome.DUPLICATE)
    return _Result(IngestOutcome.APPLIED, customer_id)


def account_for(deps: Dependencies, customer_id: str, metadata: Mapping[str, Any]) -> str | None:
    """Our account for a customer: linked here, named in the object's
    metadata, or named in the Stripe customer's metadata, in that order."""
    with deps.uow() as uow:
        linked = uow.accounts.account_for_customer(customer_id)
    return linked or _account_named(deps, customer_id, metadata)


def _account_named(deps: Dependencies, customer_id: str, metadata: Mapping[str, Any]) -> str | None:
    """The account named in the object's metadata, or the Stripe customer's."""
    named = metadata.get("account_id")
    if isinstance(named, str) and named:
        return named
    return deps.stripe.account_of_customer(customer_id)


def _claim(uow: AbstractUnitOfWork, event_id: str) -> bool:
    """Locks the event's row; False when another delivery processed it."""
    stored = uow.events.get(event_id, for_update=True)
    return stored is not None and stored.status != "processed"


def _finish(deps: Dependencies, event: StripeEvent, outcome: IngestOutcome) -> _Result:
    with deps.uow(write=True) as uow:
        if not _claim(uow, event.id):
            return _Result(IngestOutcome.DUPLICATE)
        uow.events.mark(event.id, "processed", deps.clock(), outcome=outcome.value)
        uow.commit()
    return _Result(outcome)


def _defer(deps: Dependencies, event: StripeEvent, customer_id: str) -> _Result:
    log.info("event %s waits for customer %s to be linked", event.id, customer_id)
    with deps.uow(write=True) as uow:
        if not _claim(uow, event.id):
            return _Result(IngestOutcome.DUPLICATE)
        uow.events.mark(event.id, "deferred", deps.clock(), customer_id=customer_id)
        uow.commit()
    return _Result(IngestOutcome.DEFERRED)


def _mark_failed(deps: Dependencies, event_id: str, exc: Exception) -> bool:
    """Records the failure; False when the event is processed after all."""
    with deps.uow(write=True) as uow:
        if not _claim(uow, event_id):
            return False
        uow.events.mark(event_id, "failed", deps.clock(), error=f"{type(exc).__name__}: {exc}")
        uow.commit()
    return True


def _type_label(event_type: str) -> str:
    """Event types as metric labels: the handled ones, everything else as one."""
    return event_type if event_type in HANDLED_TYPES else "other"


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_HANDLERS: dict[str, Callable[[Dependencies, StripeEvent], _Result]] = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.payment_succeeded": _invoice_paid_or_failed,
    "invoice.payment_failed": _invoice_paid_or_failed,
}
