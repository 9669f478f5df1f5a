"""Which account a subscription's events belong to, and what waits for one.

An account may have had several Stripe customers. The events find it
through the subscription as recorded here, then the subscription's
`metadata.account_id`, then the checkout that started it, then the customer
as linked here; the customer's own metadata in Stripe comes last, asked by
the applier (service_layer/stripe_questions.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from billing_server.adapters.subscription_repository import RecordedSubscription
from billing_server.domain.errors import InvalidArgument
from billing_server.domain.events import EventKind
from billing_server.domain.subscriptions import SubscriptionSnapshot
from billing_server.service_layer import validation
from billing_server.service_layer.event_outcomes import Outcomes, Pending, backoff
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

# Deferred this long, an event is rejected: no account will turn up.
DEFERRED_GIVE_UP = timedelta(days=3)
_DEFER_FIRST, _DEFER_LONGEST = timedelta(minutes=1), timedelta(hours=1)


def known_account(
    recorded: RecordedSubscription | None,
    state: SubscriptionSnapshot | None,
    events: Sequence[Pending],
) -> str | None:
    """The account, from the events and what is recorded of the subscription;
    None when only the customer can tell (linked here, or in Stripe)."""
    if recorded is not None:
        return recorded.subscription.account_id
    named = valid_account(state.metadata.get("account_id") if state else None)
    if named is not None:
        return named
    for event in events:
        if event.kind is EventKind.CHECKOUT_COMPLETED and event.stored.account_hint:
            return event.stored.account_hint
    return None


def without_foreign_checkouts(
    uow: AbstractUnitOfWork,
    recorded: RecordedSubscription | None,
    events: list[Pending],
    outcomes: Outcomes,
) -> list[Pending]:
    """Rejects checkouts that would tie a customer or a subscription to a second account."""
    kept = []
    for event in events:
        hint, customer = event.stored.account_hint, event.stored.customer_id
        if event.kind is EventKind.CHECKOUT_COMPLETED and hint is not None:
            owner = uow.accounts.account_for_customer(customer) if customer else None
            if owner is not None and owner != hint:
                outcomes.rejected["CUSTOMER_LINKED_ELSEWHERE"].append(event)
                continue
            if recorded is not None and recorded.subscription.account_id != hint:
                outcomes.rejected["SUBSCRIPTION_OF_ANOTHER_ACCOUNT"].append(event)
                continue
        kept.append(event)
    return kept


def defer(
    uow: AbstractUnitOfWork,
    events: Sequence[Pending],
    customer: str | None,
    now: datetime,
    outcomes: Outcomes,
) -> None:
    """Leaves the events until their account can be found; after DEFERRED_GIVE_UP,
    rejects them. Linking the customer, or recording the subscription, makes
    them due at once (service_layer/linking.py, fetched_snapshots.py)."""
    first_received = min(e.stored.received_at for e in events)
    if now - first_received > DEFERRED_GIVE_UP:
        outcomes.rejected["ACCOUNT_NOT_FOUND"].extend(events)
        return
    log.info("%d event(s) wait for customer %s to be linked", len(events), customer)
    attempts = max(e.stored.attempts for e in events)
    uow.events.finish(
        [e.id for e in events],
        "deferred",
        now,
        reason="ACCOUNT_UNKNOWN",
        customer_id=customer,
        next_attempt_at=now + backoff(attempts, _DEFER_FIRST, _DEFER_LONGEST),
    )
    outcomes.deferred.extend(events)


def valid_account(candidate: str | None) -> str | None:
    if not candidate:
        return None
    try:
        return validation.account_id(candidate)
    except InvalidArgument:
        return None
