"""Recording Stripe's view of a subscription in the database."""

from __future__ import annotations

import logging
from datetime import datetime

from billing_server.domain.plans import Catalog
from billing_server.domain.subscriptions import (
    Subscription,
    SubscriptionSnapshot,
    SubscriptionStatus,
)
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)


def record_subscription(
    uow: AbstractUnitOfWork,
    catalog: Catalog,
    snapshot: SubscriptionSnapshot,
    account_id: str,
    observed_at: datetime,
) -> Subscription:
    """Stores the snapshot for the account and bumps the account's state
    version when anything that matters changed. The caller commits."""
    plan = catalog.plan_for_price(snapshot.price_id, snapshot.price_lookup_key)
    if plan is None:
        # Recorded all the same, so that the state follows Stripe; the
        # account is then entitled to nothing beyond the free plan.
        log.warning(
            "subscription %s uses price %s, which no plan in the catalogue names",
            snapshot.id,
            snapshot.price_id,
        )
    existing = uow.subscriptions.get(snapshot.id)
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
        past_due_since=_past_due_since(existing, snapshot, observed_at),
        created=snapshot.created,
    )
    uow.accounts.ensure(account_id, observed_at)
    uow.subscriptions.save(subscription, stripe_state_at=observed_at, now=observed_at)
    if subscription != existing:
        uow.accounts.bump_state(account_id, observed_at)
    return subscription


def _past_due_since(
    existing: Subscription | None, snapshot: SubscriptionSnapshot, observed_at: datetime
) -> datetime | None:
    if snapshot.status is not SubscriptionStatus.PAST_DUE:
        return None
    if existing is not None and existing.past_due_since is not None:
        return existing.past_due_since
    return observed_at
