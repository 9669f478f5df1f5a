"""Recording what was observed of subscriptions, newest truth first.

One function for every writer: the applier records many subscriptions in one
transaction, a request records the one it changed. Each statement covers
the whole set.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from billing_server.adapters.subscription_repository import RecordedSubscription
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
from billing_server.telemetry_port import Telemetry

log = logging.getLogger(__name__)


class Recorded(enum.Enum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    # Older than what is recorded: the snapshot was not written.
    STALE = "stale"
    # A live snapshot raced with another write: fetch again and retry.
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Observed:
    """What was seen of one subscription: a snapshot of it, true at
    `observation`, and payments; either may be missing."""

    subscription_id: str
    account_id: str
    snapshot: SubscriptionSnapshot | None = None
    observation: Observation | None = None
    payments: Sequence[PaymentFact] = ()


def record_observations(
    uow: AbstractUnitOfWork,
    catalog: Catalog,
    seen: Sequence[Observed],
    *,
    now: datetime,
    telemetry: Telemetry | None = None,
) -> list[tuple[Recorded, Subscription | None]]:
    """Records each subscription's snapshot and payments unless something
    newer is recorded, and bumps its account's state version when anything
    that matters changed. The caller commits."""
    # Every writer of a subscription takes its lock first: what is read
    # below is what the writes are decided on.
    uow.subscriptions.lock([s.subscription_id for s in seen])
    accounts = {s.account_id for s in seen}
    uow.accounts.ensure(accounts, now)
    uow.accounts.lock(accounts)
    recorded = uow.subscriptions.recorded([s.subscription_id for s in seen])
    results = []
    saved: dict[str, RecordedSubscription] = {}
    changed: set[str] = set()
    for item in seen:
        before = recorded.get(item.subscription_id)
        outcome, after = _decide(catalog, item, before, now)
        results.append((outcome, after.subscription if after else _existing(before)))
        if after is None:
            continue
        saved[item.subscription_id] = after
        recorded[item.subscription_id] = after
        if outcome is Recorded.APPLIED:
            changed.add(item.account_id)
            if telemetry is not None:
                _report_churn(uow, telemetry, before, after.subscription)
    uow.subscriptions.save(list(saved.values()))
    uow.accounts.bump_state(changed, now)
    return results


def _decide(
    catalog: Catalog, item: Observed, recorded: RecordedSubscription | None, now: datetime
) -> tuple[Recorded, RecordedSubscription | None]:
    """What to write for one subscription (None: nothing)."""
    existing = _existing(recorded)
    history = with_facts(recorded.payments if recorded else PaymentHistory(), list(item.payments))
    snapshot, observation = item.snapshot, item.observation
    kept = Recorded.UNCHANGED
    if snapshot is not None and observation is not None and recorded is not None:
        started = observation.started
        if started is not None and recorded.updated_at > started:
            # Written while our request was in flight: either may be newer.
            return Recorded.CONFLICT, None
        if started is None and observation.at < recorded.state_at:
            snapshot, kept = None, Recorded.STALE

    if snapshot is None or observation is None:
        if recorded is None or existing is None:
            return kept, None
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
        state_at = recorded.state_at
    else:
        history = observed(history, snapshot, observation.at)
        subscription = _subscription(catalog, snapshot, item.account_id, history, existing)
        state_at = observation.at if recorded is None else max(observation.at, recorded.state_at)
    after = RecordedSubscription(subscription, state_at, now, history)
    if recorded is not None and after == dataclasses.replace(recorded, updated_at=now):
        return kept, None  # nothing to write
    return (kept if subscription == existing else Recorded.APPLIED), after


def _existing(recorded: RecordedSubscription | None) -> Subscription | None:
    return recorded.subscription if recorded else None


def _report_churn(
    uow: AbstractUnitOfWork,
    telemetry: Telemetry,
    before: RecordedSubscription | None,
    after: Subscription,
) -> None:
    canceled = SubscriptionStatus.CANCELED
    was_live = before is not None and before.subscription.status is not canceled
    if was_live and after.status is canceled:
        plan_name = after.plan
        uow.after_commit(lambda: telemetry.subscription_canceled(plan_name))


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
        cancel_at=snapshot.cancel_at,
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
