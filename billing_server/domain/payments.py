"""Payment history of a subscription, and where its grace period starts.

The grace period of a past-due subscription starts at the first failed
payment of the *current* bout. A bout ends when a payment succeeds, or when
the subscription is seen in good standing again (an invoice voided or
forgiven sends no payment event). Stripe delivers events out of order, so
the history keeps every failure that no later settlement has closed: a late
failure from a bout that is already over changes nothing, and a late
success closes exactly the failures before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing_server.domain.subscriptions import SubscriptionSnapshot, SubscriptionStatus

# Far more failed attempts than any dunning schedule makes in one bout; the
# bound only keeps a row from growing without end.
MAX_OPEN_FAILURES = 64
_GOOD_STANDING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


@dataclass(frozen=True)
class PaymentHistory:
    # The latest moment the subscription was known to owe nothing.
    settled_at: datetime | None = None
    # Failed payments after `settled_at`, oldest first.
    open_failures: tuple[datetime, ...] = ()

    def failed(self, at: datetime) -> PaymentHistory:
        if self.settled_at is not None and at <= self.settled_at:
            return self  # from an earlier bout, already settled
        failures = sorted({*self.open_failures, at})[:MAX_OPEN_FAILURES]
        return PaymentHistory(self.settled_at, tuple(failures))

    def settled(self, at: datetime) -> PaymentHistory:
        if self.settled_at is not None and at <= self.settled_at:
            return self
        return PaymentHistory(at, tuple(f for f in self.open_failures if f > at))

    @property
    def bout_started(self) -> datetime | None:
        return self.open_failures[0] if self.open_failures else None


@dataclass(frozen=True)
class PaymentFact:
    """An invoice event: a payment that succeeded or failed at `at`."""

    at: datetime
    succeeded: bool


def with_facts(history: PaymentHistory, facts: list[PaymentFact]) -> PaymentHistory:
    for fact in sorted(facts, key=lambda f: f.at):
        history = history.settled(fact.at) if fact.succeeded else history.failed(fact.at)
    return history


def observed(
    history: PaymentHistory, snapshot: SubscriptionSnapshot, at: datetime
) -> PaymentHistory:
    """A snapshot in good standing at `at` closes every failure before it."""
    return history.settled(at) if snapshot.status in _GOOD_STANDING else history


def grace_anchor(
    history: PaymentHistory,
    status: SubscriptionStatus,
    period_start: datetime,
    previous_anchor: datetime | None,
) -> datetime | None:
    """Where the grace period of a past-due subscription starts (None otherwise).

    The first open failure when one is known. Otherwise the anchor already
    recorded for this bout, or else the start of the period: Stripe moves a
    subscription to past_due when the renewal of that period fails, so the
    grace is never longer than the true one.
    """
    if status is not SubscriptionStatus.PAST_DUE:
        return None
    if history.bout_started is not None:
        return history.bout_started
    settled = history.settled_at
    if previous_anchor is not None and (settled is None or previous_anchor > settled):
        return previous_anchor
    return period_start
