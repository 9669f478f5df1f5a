"""The plan catalogue and the subscription status policy operators configure."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from billing_server.domain.errors import InvalidArgument, feature_not_found, plan_not_found
from billing_server.domain.subscriptions import SubscriptionStatus


class Proration(enum.StrEnum):
    """How a change of plan is charged: prorated on the next invoice, invoiced
    at once, or not at all."""

    CREATE_PRORATIONS = "create_prorations"
    ALWAYS_INVOICE = "always_invoice"
    NONE = "none"


# Stripe refuses a longer trial_period_days.
STRIPE_MAX_TRIAL_DAYS = 730
DEFAULT_MAX_TRIAL_DAYS = 30


@dataclass(frozen=True)
class PlanPrice:
    """What `billing-admin catalog sync` creates in Stripe for a plan."""

    unit_amount: int
    currency: str = "usd"
    interval: str = "month"


@dataclass(frozen=True)
class Plan:
    name: str
    display_name: str
    rank: int
    features: frozenset[str] = frozenset()
    # Numeric limits the plan grants, by name (for example ("seats", 10)).
    limits: tuple[tuple[str, int], ...] = ()
    # Stripe price lookup key (preferred: survives price changes) or price id.
    price_lookup_key: str | None = None
    price_id: str | None = None
    price: PlanPrice | None = None
    # Free days a new subscription starts with (Stripe's trial), 0 for none.
    trial_days: int = 0

    @property
    def purchasable(self) -> bool:
        return self.price_lookup_key is not None or self.price_id is not None

    def satisfies(self, required: Plan) -> bool:
        return self.rank >= required.rank


@dataclass(frozen=True)
class StatusPolicy:
    """Which Stripe statuses entitle an account to its plan."""

    allowed: frozenset[SubscriptionStatus] = frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}
    )
    # Statuses that keep access for a grace period after payment fails.
    grace: frozenset[SubscriptionStatus] = frozenset({SubscriptionStatus.PAST_DUE})
    grace_period: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Catalog:
    plans: Sequence[Plan]
    policy: StatusPolicy = field(default_factory=StatusPolicy)
    # The longest trial a checkout may ask for instead of its plan's own.
    max_trial_days: int = DEFAULT_MAX_TRIAL_DAYS

    def __post_init__(self) -> None:
        names = [p.name for p in self.plans]
        if len(set(names)) != len(names):
            raise ValueError("plan names must be unique")
        ranks = [p.rank for p in self.plans]
        if len(set(ranks)) != len(ranks):
            raise ValueError("plan ranks must be unique")
        if not 0 <= self.max_trial_days <= STRIPE_MAX_TRIAL_DAYS:
            raise ValueError(f"max_trial_days must be between 0 and {STRIPE_MAX_TRIAL_DAYS}")
        for plan in self.plans:
            if not 0 <= plan.trial_days <= STRIPE_MAX_TRIAL_DAYS:
                raise ValueError(
                    f"plan {plan.name!r}: trial_days must be between 0 and {STRIPE_MAX_TRIAL_DAYS}"
                )
        object.__setattr__(self, "plans", tuple(sorted(self.plans, key=lambda p: p.rank)))

    def trial_days(self, plan: Plan, requested: int | None) -> int:
        """The trial a checkout of `plan` starts: the plan's own, or the one
        asked for (0 for none) when it is within the catalogue's maximum."""
        if requested is None:
            return plan.trial_days
        if not 0 <= requested <= self.max_trial_days:
            raise InvalidArgument(
                f"trial_days must be between 0 and {self.max_trial_days}",
                reason="TRIAL_TOO_LONG",
                field="trial_days",
            )
        return requested

    def get(self, name: str) -> Plan | None:
        return next((p for p in self.plans if p.name == name), None)

    def require(self, name: str) -> Plan:
        plan = self.get(name)
        if plan is None:
            raise plan_not_found(name)
        return plan

    @property
    def free_plan(self) -> Plan | None:
        """The plan of accounts without a subscription: the lowest unpriced plan."""
        return next((p for p in self.plans if not p.purchasable), None)

    def lowest_with_feature(self, key: str) -> Plan:
        plan = next((p for p in self.plans if key in p.features), None)
        if plan is None:
            raise feature_not_found(key)
        return plan

    def plan_for_price(self, price_id: str, lookup_key: str | None) -> Plan | None:
        for plan in self.plans:
            if plan.price_id is not None and plan.price_id == price_id:
                return plan
            if lookup_key is not None and plan.price_lookup_key == lookup_key:
                return plan
        return None

    @property
    def purchasable(self) -> Iterable[Plan]:
        return (p for p in self.plans if p.purchasable)
