"""The weekly subscription report's figures, from what our tables hold.

Pure functions over rows the report's queries read: no database, no Stripe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from billing_server.domain.plans import Catalog, PlanPrice
from billing_server.domain.subscriptions import SubscriptionStatus

# Subscriptions that are over: not counted as active.
ENDED_STATUSES = frozenset({SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED})
# Subscriptions that bill every period: trials have not paid yet.
BILLING_STATUSES = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})
# How many months one billing interval lasts.
_MONTHS_IN = {
    "day": Fraction(12, 365),
    "week": Fraction(12, 52),
    "month": Fraction(1),
    "year": Fraction(12),
}


@dataclass(frozen=True)
class PlanObserved:
    """A subscription event's plan, at Stripe's time."""

    subscription_id: str
    at: datetime
    plan: str


@dataclass(frozen=True)
class PaymentObserved:
    subscription_id: str
    at: datetime
    succeeded: bool


@dataclass(frozen=True)
class SubscriptionReport:
    since: datetime
    until: datetime
    # (plan, status) -> subscriptions not ended, now.
    active: Mapping[tuple[str, str], int]
    new: Mapping[str, int]
    churned: Mapping[str, int]
    upgrades: int
    downgrades: int
    failed_payments: int
    recovered_payments: int
    # Currency -> monthly recurring revenue in the currency's minor unit.
    mrr: Mapping[str, int]
    # Billing subscriptions on plans without a catalogue price (not in the MRR).
    unpriced: int = 0
    notes: tuple[str, ...] = field(default=())


def monthly_amount(price: PlanPrice) -> Fraction:
    """What a price brings in a month, in the currency's minor unit."""
    return price.unit_amount / _MONTHS_IN[price.interval]


def recurring_revenue(
    counts: Iterable[tuple[str, str, int]], catalog: Catalog
) -> tuple[dict[str, int], int]:
    """MRR by currency from (plan, status, count) rows and the catalogue's
    prices, and how many billing subscriptions had no price to count."""
    totals: dict[str, Fraction] = {}
    unpriced = 0
    for plan_name, status, count in counts:
        if status not in BILLING_STATUSES:
            continue
        plan = catalog.get(plan_name)
        if plan is None or plan.price is None:
            unpriced += count
            continue
        currency = plan.price.currency
        totals[currency] = totals.get(currency, Fraction(0)) + count * monthly_amount(plan.price)
    return {currency: round(total) for currency, total in sorted(totals.items())}, unpriced


def plan_changes(
    observed: Iterable[PlanObserved], catalog: Catalog, since: datetime
) -> tuple[int, int]:
    """(upgrades, downgrades) from subscription events in Stripe's order:
    a change of plan within the window, higher or lower in rank."""
    last: dict[str, str] = {}
    counted: Counter[str] = Counter()
    for seen in sorted(observed, key=lambda o: o.at):
        before = last.get(seen.subscription_id)
        last[seen.subscription_id] = seen.plan
        if before is None or before == seen.plan or seen.at < since:
            continue
        old, new = catalog.get(before), catalog.get(seen.plan)
        if old is not None and new is not None:
            counted["up" if new.rank > old.rank else "down"] += 1
    return counted["up"], counted["down"]


def payments(observed: Iterable[PaymentObserved], since: datetime) -> tuple[int, int]:
    """(failed, recovered) within the window: a recovery is a successful
    payment of a subscription whose last payment before it had failed."""
    failing: set[str] = set()
    failed = recovered = 0
    for seen in sorted(observed, key=lambda o: o.at):
        in_window = seen.at >= since
        if not seen.succeeded:
            failing.add(seen.subscription_id)
            failed += in_window
        elif seen.subscription_id in failing:
            failing.discard(seen.subscription_id)
            recovered += in_window
    return failed, recovered
