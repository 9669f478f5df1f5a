"""The entitlement policy: may this account use this plan or feature now?"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from billing_server.domain.plans import Catalog, Plan
from billing_server.domain.subscriptions import AccountStanding, Standing, SubscriptionStatus


class DenialReason(enum.Enum):
    NO_SUBSCRIPTION = "no_subscription"
    PLAN_TOO_LOW = "plan_too_low"
    FEATURE_NOT_INCLUDED = "feature_not_included"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    PAYMENT_OVERDUE = "payment_overdue"
    SUBSCRIPTION_INACTIVE = "subscription_inactive"


@dataclass(frozen=True)
class PlanRequirement:
    plan: str


@dataclass(frozen=True)
class FeatureRequirement:
    feature: str


Requirement = PlanRequirement | FeatureRequirement


@dataclass(frozen=True)
class Decision:
    allowed: bool
    denial_reason: DenialReason | None
    plan: str | None
    status: SubscriptionStatus | None
    current_period_end: datetime | None
    valid_until: datetime | None
    grace_period_end: datetime | None
    required_plan: str | None
    state_version: int
    state_updated_at: datetime | None


@dataclass(frozen=True)
class _Entitlement:
    plan: Plan | None
    # Why the subscription itself gives nothing, when it does not.
    lapse: DenialReason | None
    valid_until: datetime | None
    grace_period_end: datetime | None


@dataclass(frozen=True)
class Entitlements:
    """Everything an account may use now: one answer for every feature check."""

    plan: Plan | None
    denial_reason: DenialReason | None
    status: SubscriptionStatus | None
    current_period_end: datetime | None
    valid_until: datetime | None
    grace_period_end: datetime | None
    state_version: int
    state_updated_at: datetime | None

    @property
    def features(self) -> frozenset[str]:
        return self.plan.features if self.plan else frozenset()


def entitlements(state: AccountStanding, catalog: Catalog, now: datetime) -> Entitlements:
    entitlement = _entitlement(state.standing, catalog, now)
    sub = state.standing
    return Entitlements(
        plan=entitlement.plan,
        denial_reason=entitlement.lapse,
        status=sub.status if sub else None,
        current_period_end=sub.current_period_end if sub else None,
        valid_until=entitlement.valid_until,
        grace_period_end=entitlement.grace_period_end,
        state_version=state.state_version,
        state_updated_at=state.state_updated_at,
    )


def decide(
    state: AccountStanding, requirement: Requirement, catalog: Catalog, now: datetime
) -> Decision:
    if isinstance(requirement, PlanRequirement):
        required = catalog.require(requirement.plan)
    else:
        required = catalog.lowest_with_feature(requirement.feature)

    entitlement = _entitlement(state.standing, catalog, now)
    plan = entitlement.plan
    if isinstance(requirement, PlanRequirement):
        allowed = plan is not None and plan.satisfies(required)
        shortfall = DenialReason.PLAN_TOO_LOW
    else:
        allowed = plan is not None and requirement.feature in plan.features
        shortfall = DenialReason.FEATURE_NOT_INCLUDED

    sub = state.standing
    return Decision(
        allowed=allowed,
        denial_reason=None if allowed else (entitlement.lapse or shortfall),
        plan=plan.name if plan else None,
        status=sub.status if sub else None,
        current_period_end=sub.current_period_end if sub else None,
        valid_until=entitlement.valid_until,
        grace_period_end=entitlement.grace_period_end,
        required_plan=None if allowed else required.name,
        state_version=state.state_version,
        state_updated_at=state.state_updated_at,
    )


def _entitlement(sub: Standing | None, catalog: Catalog, now: datetime) -> _Entitlement:
    free = catalog.free_plan
    if sub is None:
        return _Entitlement(free, DenialReason.NO_SUBSCRIPTION, None, None)

    policy = catalog.policy
    subscribed = catalog.get(sub.plan)
    # A subscription set to cancel (at the period's end, or at a date) keeps
    # its plan only until then; past that, Stripe's deletion may simply not
    # have reached us yet.
    ends_at = sub.ends_at
    if ends_at is not None and now >= ends_at:
        return _Entitlement(free, DenialReason.SUBSCRIPTION_CANCELED, None, None)

    if sub.status in policy.allowed:
        return _Entitlement(subscribed or free, None, ends_at, None)

    if sub.status in policy.grace:
        # Stripe moves a subscription to past_due when the renewal charge of
        # the new period fails, so the period start is the fallback anchor.
        anchor = sub.past_due_since or sub.current_period_start or sub.created
        grace_end = anchor + policy.grace_period
        if now < grace_end:
            valid_until = min(grace_end, ends_at) if ends_at else grace_end
            return _Entitlement(subscribed or free, None, valid_until, grace_end)
        return _Entitlement(free, DenialReason.PAYMENT_OVERDUE, None, grace_end)

    if sub.status is SubscriptionStatus.CANCELED:
        return _Entitlement(free, DenialReason.SUBSCRIPTION_CANCELED, None, None)
    return _Entitlement(free, DenialReason.SUBSCRIPTION_INACTIVE, None, None)
