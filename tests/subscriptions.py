"""Subscriptions as the service stores them, built and recorded directly for
tests that start from a stored state rather than from webhooks."""

from __future__ import annotations

from datetime import datetime, timedelta

from billing_server.adapters.subscription_repository import RecordedSubscription
from billing_server.domain.payments import PaymentHistory
from billing_server.domain.subscriptions import Subscription, SubscriptionStatus
from billing_server.service_layer.unit_of_work import UnitOfWorkFactory


def a_subscription(
    account_id: str,
    *,
    subscription_id: str,
    item_id: str,
    created: datetime,
    plan: str = "pro",
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    past_due_since: datetime | None = None,
) -> Subscription:
    """Created at `created`, in its first 30-day period."""
    return Subscription(
        id=subscription_id,
        account_id=account_id,
        customer_id=f"cus_{account_id}",
        plan=plan,
        price_id="price_x",
        item_id=item_id,
        status=status,
        current_period_start=created,
        current_period_end=created + timedelta(days=30),
        cancel_at_period_end=False,
        canceled_at=None,
        ended_at=None,
        past_due_since=past_due_since,
        created=created,
    )


def record(uow: UnitOfWorkFactory, subscription: Subscription, now: datetime) -> None:
    """Saves it as observed `now` and bumps its account's state version, in
    one committed unit of work (so that the changes are heard)."""
    with uow(write=True) as work:
        work.accounts.ensure([subscription.account_id], now)
        work.subscriptions.save([RecordedSubscription(subscription, now, now, PaymentHistory())])
        work.accounts.bump_state([subscription.account_id], now)
        work.commit()
