"""Subscription states as Stripe reports them, and as the service stores them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"

    @property
    def is_terminal(self) -> bool:
        return self in (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """A subscription as Stripe returned it, reduced to what billing needs."""

    id: str
    customer_id: str
    status: SubscriptionStatus
    item_id: str
    price_id: str
    price_lookup_key: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    created: datetime
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    """The stored subscription of an account."""

    id: str
    account_id: str
    customer_id: str
    plan: str
    price_id: str
    item_id: str
    status: SubscriptionStatus
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    past_due_since: datetime | None
    created: datetime


@dataclass(frozen=True)
class AccountState:
    """Everything CheckPlan needs to know about one account."""

    account_id: str
    customer_id: str | None
    state_version: int
    state_updated_at: datetime | None
    subscription: Subscription | None


def current_subscription(subscriptions: list[Subscription]) -> Subscription | None:
    """The subscription that decides an account's entitlements.

    An account keeps its canceled subscriptions as history; a live one wins
    over any terminal one, and among equals the newest wins.
    """
    if not subscriptions:
        return None
    return max(subscriptions, key=lambda s: (not s.status.is_terminal, s.created))
