"""Reconciliation: compare every subscription in Stripe with ours, and repair.

Safe at any time: it only reads Stripe, and a repair records what Stripe
said through the same path live fetches and webhooks take, so it can never
put older state over newer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from billing_server.domain.subscriptions import Subscription, SubscriptionSnapshot
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.fetched_snapshots import record_fetched
from billing_server.service_layer.recording import Recorded

log = logging.getLogger(__name__)


@dataclass
class Drift:
    subscription_id: str
    kind: str  # "missing" or "different"
    detail: str


@dataclass
class ReconcileReport:
    checked: int = 0
    drift: list[Drift] = field(default_factory=list)
    fixed: int = 0
    # Stripe subscriptions of customers that are not ours.
    foreign: int = 0
    failed: int = 0

    def count(self, kind: str) -> int:
        return sum(d.kind == kind for d in self.drift)


def reconcile(
    deps: Dependencies,
    *,
    fix: bool,
    progress: Callable[[int], None] | None = None,
) -> ReconcileReport:
    """Pages through Stripe's subscriptions at the shared pace (the applier's too)."""
    report = ReconcileReport()
    started = deps.clock()
    for snapshot in deps.stripe.list_subscriptions(deps.stripe_pacer.wait):
        report.checked += 1
        if progress is not None and report.checked % 100 == 0:
            progress(report.checked)
        with deps.uow() as uow:
            ours = uow.subscriptions.get(snapshot.id)
        drift = _compare(snapshot, ours, deps)
        if drift is None:
            continue
        account_id = ours.account_id if ours else _account_for(deps, snapshot)
        if account_id is None:
            report.foreign += 1
            continue
        report.drift.append(drift)
        if not fix:
            continue
        try:
            recorded, _ = record_fetched(deps, account_id, snapshot, started)
        except Exception:
            log.exception("repairing subscription %s failed", snapshot.id)
            report.failed += 1
            continue
        if recorded is Recorded.APPLIED:
            report.fixed += 1
    return report


def _compare(
    stripe: SubscriptionSnapshot, ours: Subscription | None, deps: Dependencies
) -> Drift | None:
    if ours is None:
        return Drift(stripe.id, "missing", f"{stripe.status} in Stripe, unknown here")
    plan = deps.catalog.plan_for_price(stripe.price_id, stripe.price_lookup_key)
    differences = []
    if ours.status is not stripe.status:
        differences.append(f"status {ours.status} here, {stripe.status} in Stripe")
    if ours.plan != (plan.name if plan else ""):
        differences.append(f"plan {ours.plan!r} here, price {stripe.price_id} in Stripe")
    if ours.current_period_end != stripe.current_period_end:
        differences.append("period end differs")
    if ours.cancel_at_period_end != stripe.cancel_at_period_end:
        differences.append("cancel_at_period_end differs")
    if ours.cancel_at != stripe.cancel_at:
        differences.append("cancel_at differs")
    if not differences:
        return None
    return Drift(stripe.id, "different", "; ".join(differences))


def _account_for(deps: Dependencies, snapshot: SubscriptionSnapshot) -> str | None:
    """A subscription we never recorded: its metadata, the customer linked
    here, or the customer's metadata in Stripe, in that order."""
    named = snapshot.metadata.get("account_id")
    if named:
        return named
    with deps.uow() as uow:
        linked = uow.accounts.account_for_customer(snapshot.customer_id)
    if linked is not None:
        return linked
    deps.stripe_pacer.wait()
    return deps.stripe.account_of_customer(snapshot.customer_id)
