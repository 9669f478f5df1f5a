"""Recording Stripe's view of a subscription, newest truth first."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime

from billing_server.domain.plans import Catalog
from billing_server.domain.subscriptions import (
    Subscription,
    SubscriptionSnapshot,
    SubscriptionStatus,
)
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork
from billing_server.telemetry import Telemetry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    """When the snapshot's state was Stripe's truth.

    `at` is a lower bound of that time: an event's `created`, or the moment a
    request to Stripe started for a snapshot fetched live.
    """

    at: datetime
    live: bool

    @classmethod
    def from_event(cls, created: datetime) -> Observation:
        return cls(created, live=False)

    @classmethod
    def fetched_since(cls, request_started: datetime) -> Observation:
        return cls(request_started, live=True)


class Recorded(enum.Enum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    # Older than what is recorded: nothing written.
    STALE = "stale"
    # A live snapshot raced with another write: fetch again and retry.
    CONFLICT = "conflict"


def record_subscription(
    uow: AbstractUnitOfWork,
    catalog: Catalog,
    snapshot: SubscriptionSnapshot,
    account_id: str,
    observation: Observation,
    now: datetime,
    *,
    payment_failed_at: datetime | None = None,
    telemetry: Telemetry | None = None,
) -> tuple[Recorded, Subscription | None]:
    """Stores the snapshot for the account unless something newer is recorded,
    and bumps the account's state version when anything that matters changed.
    The caller commits."""
    uow.accounts.ensure(account_id, now)
    # Every change to one account's billing state is serialised.
    uow.accounts.lock(account_id)
    recorded = uow.subscriptions.recorded(snapshot.id)
    existing = recorded.subscription if recorded else None
    if recorded is not None:
        if observation.live and recorded.updated_at > observation.at:
            # Written while our request was in flight: either may be newer.
            return Recorded.CONFLICT, existing
        if not observation.live and observation.at < recorded.state_at:
            return Recorded.STALE, existing

    plan = catalog.plan_for_price(snapshot.price_id, snapshot.price_lookup_key)
    if plan is None:
        # Recorded all the same, so that the state follows Stripe; the
        # account is then entitled to nothing beyond the free plan.
        log.warning(
            "subscription %s uses price %s, which no plan in the catalogue names",
            snapshot.id,
            snapshot.price_id,
        )
    subscription = Subscription(
        id=snapshot.id,
        account_id=account_id,
        customer_id=snapshot.customer_id,
        plan=plan.name if plan else "",
        price_id=snapshot.price_id,
        item_id=snapshot.item_id,
        status=snapshot.status,
        current_period_start=snapshot.current_period_start,
        current_period_end=snapshot.current_period_end,
        cancel_at_period_end=snapshot.cancel_at_period_end,
        canceled_at=snapshot.canceled_at,
        ended_at=snapshot.ended_at,
        past_due_since=_past_due_since(existing, snapshot, observation, payment_failed_at),
        created=snapshot.created,
    )
    state_at = max(observation.at, recorded.state_at) if recorded else observation.at
    uow.subscriptions.save(subscription, stripe_state_at=state_at, now=now)
    if subscription == existing:
        return Recorded.UNCHANGED, subscription
    uow.accounts.bump_state(account_id, now)
    canceled = SubscriptionStatus.CANCELED
    churned = existing is not None and existing.status is not canceled
    if telemetry is not None and churned and subscription.status is canceled:
        plan_name = subscription.plan
        uow.after_commit(lambda: telemetry.subscription_canceled(plan_name))
    return Recorded.APPLIED, subscription


def _past_due_since(
    existing: Subscription | None,
    snapshot: SubscriptionSnapshot,
    observation: Observation,
    payment_failed_at: datetime | None,
) -> datetime | None:
    """The grace period runs from the first failed payment of this bout."""
    if snapshot.status is not SubscriptionStatus.PAST_DUE:
        return None
    candidates = [t for t in (payment_failed_at,) if t is not None]
    if existing is not None and existing.past_due_since is not None:
        candidates.append(existing.past_due_since)
    return min(candidates) if candidates else observation.at
