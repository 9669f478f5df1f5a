"""Recording what was observed of a subscription, newest truth first."""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Sequence
from datetime import datetime

from billing_server.domain.payments import (
    PaymentFact,
    PaymentHistory,
    grace_anchor,
    observed,
    with_facts,
)
from billing_server.domain.plans import Catalog
from billing_server.domain.subscriptions import (
    Observation,
    Subscription,
    SubscriptionSnapshot,
    SubscriptionStatus,
)
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork
from billing_server.telemetry import Telemetry

log = logging.getLogger(__name__)


class Recorded(enum.Enum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    # Older than what is recorded: the snapshot was not written.
    STALE = "stale"
    # A live snapshot raced with another write: fetch again and retry.
    CONFLICT = "conflict"


def record_observation(
    uow: AbstractUnitOfWork,
    catalog: Catalog,
    subscription_id: str,
    *,
    account_id: str,
    snapshot: SubscriptionSnapshot | None,
    observation: Observation | None,
    payments: Sequence[PaymentFact] = (),
    now: datetime,
    telemetry: Telemetry | None = None,
) -> tuple[Recorded, Subscription | None]:
    """Records a snapshot of the subscription (true at `observation`) and the
    payments seen, unless something newer is recorded, and bumps the
    account's state version when anything that matters changed. The caller
    commits."""
    # Every writer of a subscription takes its lock first: what is read
    # below is what the write is decided on.
    uow.subscriptions.lock(subscription_id)
    uow.accounts.ensure(account_id, now)
    uow.accounts.lock(account_id)
    recorded = uow.subscriptions.recorded(subscription_id)
    existing = recorded.subscription if recorded else None
    history = with_facts(recorded.payments if recorded else PaymentHistory(), list(payments))
    state_at = recorded.state_at if recorded else None
    outcome_if_kept = Recorded.UNCHANGED

    if snapshot is not None and observation is not None and recorded is not None:
        started = observation.started
        if started is not None and recorded.updated_at > started:
            # Written while our request was in flight: either may be newer.
            return Recorded.CONFLICT, existing
        if started is None and observation.at < recorded.state_at:
            snapshot, outcome_if_kept = None, Recorded.STALE

    if snapshot is None or observation is None:
        if existing is None or state_at is None:
            return outcome_if_kept, existing
        # Only payments: the state stands, its grace anchor may move.
        subscription = dataclasses.replace(
            existing,
            past_due_since=grace_anchor(
                history,
                existing.status,
                existing.current_period_start or existing.created,
                existing.past_due_since,
            ),
        )
    else:
        history = observed(history, snapshot, observation.at)
        subscription = _subscription(catalog, snapshot, account_id, history, existing)
        state_at = observation.at if state_at is None else max(observation.at, state_at)

    uow.subscriptions.save(subscription, stripe_state_at=state_at, payments=history, now=now)
    if subscription == existing:
        return outcome_if_kept, subscription
    uow.accounts.bump_state(account_id, now)
    canceled = SubscriptionStatus.CANCELED
    churned = existing is not None and existing.status is not canceled
    if telemetry is not None and churned and subscription.status is canceled:
        plan_name = subscription.plan
        uow.after_commit(lambda: telemetry.subscription_canceled(plan_name))
    return Recorded.APPLIED, subscription


def _subscription(
    catalog: Catalog,
    snapshot: SubscriptionSnapshot,
    account_id: str,
    history: PaymentHistory,
    existing: Subscription | None,
) -> Subscription:
    plan = catalog.plan_for_price(snapshot.price_id, snapshot.price_lookup_key)
    if plan is None:
        # Recorded all the same, so that the state follows Stripe; the
        # account is then entitled to nothing beyond the free plan.
        log.warning(
            "subscription %s uses price %s, which no plan in the catalogue names",
            snapshot.id,
            snapshot.price_id,
        )
    return Subscription(
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
        past_due_since=grace_anchor(
            history,
            snapshot.status,
            snapshot.current_period_start or snapshot.created,
            existing.past_due_since if existing else None,
        ),
        created=snapshot.created,
    )
