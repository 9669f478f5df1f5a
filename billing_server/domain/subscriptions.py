"""Subscription states as Stripe reports them, and as the service stores them."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

# Our clock is not Stripe's. A snapshot read live is placed this far before
# the moment our request started, so that an event Stripe created just after
# the read is never judged older than it (at worst it ties, and a tie makes
# the applier ask Stripe again).
CLOCK_MARGIN = timedelta(seconds=1)


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
    # When Stripe will cancel it (a scheduled cancellation), if it will.
    cancel_at: datetime | None = None


@dataclass(frozen=True)
class Observation:
    """When a snapshot's state was Stripe's truth.

    `at` is a lower bound of that time, on Stripe's clock: an event's
    `created`, or for a snapshot fetched live, the moment our request started
    less the clock margin. `started` (our clock) is kept for live snapshots,
    to tell whether another write raced with the request.
    """

    at: datetime
    started: datetime | None = None

    @property
    def live(self) -> bool:
        return self.started is not None

    @classmethod
    def from_event(cls, created: datetime) -> Observation:
        return cls(created)

    @classmethod
    def fetched_since(
        cls, request_started: datetime, covering: datetime | None = None
    ) -> Observation:
        """A snapshot fetched by a request started at `request_started`, after
        events created up to `covering` had arrived: it is at least as new."""
        at = request_started - CLOCK_MARGIN
        return cls(at if covering is None else max(at, covering), started=request_started)


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
    cancel_at: datetime | None = None

    @property
    def standing(self) -> Standing:
        return Standing(
            plan=self.plan,
            status=self.status,
            current_period_start=self.current_period_start,
            current_period_end=self.current_period_end,
            cancel_at_period_end=self.cancel_at_period_end,
            past_due_since=self.past_due_since,
            created=self.created,
            cancel_at=self.cancel_at,
        )


@dataclass(frozen=True, slots=True)
class Standing:
    """What an account's entitlements follow from: its current subscription,
    reduced to the fields the entitlement policy reads."""

    plan: str
    status: SubscriptionStatus
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    past_due_since: datetime | None
    created: datetime
    cancel_at: datetime | None = None

    @property
    def ends_at(self) -> datetime | None:
        """When the subscription stops entitling, cancellation-wise: the
        period's end when it cancels then, or the date it cancels at."""
        ends = [self.current_period_end] if self.cancel_at_period_end else []
        if self.cancel_at is not None:
            ends.append(self.cancel_at)
        return min((e for e in ends if e is not None), default=None)


@dataclass(frozen=True, slots=True)
class AccountStanding:
    """An account's standing at one state version (None: no subscription)."""

    account_id: str
    state_version: int
    state_updated_at: datetime | None
    standing: Standing | None

    @classmethod
    def unknown(cls, account_id: str) -> AccountStanding:
        """An account the database has never seen: version 0, no subscription."""
        return cls(account_id, 0, None, None)


@dataclass(frozen=True)
class AccountState:
    """An account's billing state: its customer and current subscription."""

    account_id: str
    customer_id: str | None
    state_version: int
    state_updated_at: datetime | None
    subscription: Subscription | None

    @property
    def standing(self) -> AccountStanding:
        sub = self.subscription
        return AccountStanding(
            self.account_id,
            self.state_version,
            self.state_updated_at,
            sub.standing if sub is not None else None,
        )


class _Dated(Protocol):
    @property
    def status(self) -> SubscriptionStatus: ...
    @property
    def created(self) -> datetime: ...


_S = TypeVar("_S", bound=_Dated)


def current_subscription(subscriptions: Sequence[_S]) -> _S | None:
    """The subscription that decides an account's entitlements (a
    Subscription, or its Standing).

    An account keeps its canceled subscriptions as history; a live one wins
    over any terminal one, and among equals the newest wins.
    """
    if not subscriptions:
        return None
    return max(subscriptions, key=lambda s: (not s.status.is_terminal, s.created))
