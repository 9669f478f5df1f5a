"""Stripe events as the service stores and applies them, and how their order is judged."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from billing_server.domain.subscriptions import SubscriptionSnapshot

HANDLED_TYPES = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
    }
)


class EventKind(enum.Enum):
    # The payload is the subscription itself, as Stripe held it at `created`.
    SUBSCRIPTION = "subscription"
    # These only say that the subscription changed: its state must be fetched.
    CHECKOUT_COMPLETED = "checkout_completed"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    # Anything else: stored and acknowledged, never applied.
    OTHER = "other"


_KINDS = {
    "checkout.session.completed": EventKind.CHECKOUT_COMPLETED,
    "customer.subscription.created": EventKind.SUBSCRIPTION,
    "customer.subscription.updated": EventKind.SUBSCRIPTION,
    "customer.subscription.deleted": EventKind.SUBSCRIPTION,
    "invoice.payment_succeeded": EventKind.PAYMENT_SUCCEEDED,
    "invoice.payment_failed": EventKind.PAYMENT_FAILED,
}


def kind_of(event_type: str) -> EventKind:
    return _KINDS.get(event_type, EventKind.OTHER)


@dataclass(frozen=True)
class InboundEvent:
    """A Stripe event read once at the edge, with what applying it needs.

    `subject_id` is the Stripe object whose events are applied together and
    in order: the subscription, when the payload names it in the shape of
    the pinned API version; otherwise the event's own object, which the
    applier resolves through Stripe. `state` is set only for subscription
    events of the pinned version; no other payload is read for state.
    """

    id: str
    type: str
    kind: EventKind
    created: datetime
    api_version: str | None
    subject_id: str | None
    customer_id: str | None
    # The account a checkout was started for (its client_reference_id).
    account_hint: str | None
    state: SubscriptionSnapshot | None
    # Nothing in it can ever apply (another type, a one-off payment...).
    ignored: bool
    # The payload as stored: personal data removed.
    payload: str


class Freshness(enum.Enum):
    NEWER = "newer"
    # Stripe's `created` has one-second resolution: an event from the same
    # second as the recorded state may be older or newer than it.
    SAME_SECOND = "same_second"
    OLDER = "older"


def freshness(event_created: datetime, state_at: datetime | None) -> Freshness:
    """How an event compares with the recorded state (a lower bound on its time)."""
    if state_at is None:
        return Freshness.NEWER
    recorded_second = int(state_at.timestamp())
    event_second = int(event_created.timestamp())
    if event_second > recorded_second:
        return Freshness.NEWER
    if event_second == recorded_second:
        return Freshness.SAME_SECOND
    return Freshness.OLDER
