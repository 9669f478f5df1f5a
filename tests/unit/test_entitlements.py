"""The entitlement policy, decided from an account's state and the catalogue."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing_server.domain.entitlements import (
    DenialReason,
    FeatureRequirement,
    PlanRequirement,
    decide,
)
from billing_server.domain.errors import NotFound
from billing_server.domain.plans import Catalog, Plan, StatusPolicy
from billing_server.domain.subscriptions import (
    AccountStanding,
    AccountState,
    Subscription,
    SubscriptionStatus,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
FREE = Plan("free", "Free", 0, frozenset({"projects"}))
PRO = Plan("pro", "Pro", 10, frozenset({"projects", "exports"}), price_lookup_key="pro_m")
ENTERPRISE = Plan(
    "enterprise", "Enterprise", 20, frozenset({"projects", "exports", "sso"}), price_id="price_e"
)
CATALOG = Catalog([PRO, ENTERPRISE, FREE])


def subscribed(
    plan: str = "pro", status: SubscriptionStatus = SubscriptionStatus.ACTIVE, **changes: Any
) -> AccountStanding:
    subscription = Subscription(
        id="sub_1",
        account_id="acct",
        customer_id="cus_1",
        plan=plan,
        price_id="price_x",
        item_id="si_1",
        status=status,
        current_period_start=NOW - timedelta(days=10),
        current_period_end=NOW + timedelta(days=20),
        cancel_at_period_end=False,
        canceled_at=None,
        ended_at=None,
        past_due_since=None,
        created=NOW - timedelta(days=40),
    )
    return AccountState(
        "acct", "cus_1", 3, NOW - timedelta(hours=1), replace(subscription, **changes)
    ).standing


NO_SUBSCRIPTION = AccountStanding.unknown("acct")


def test_an_account_without_subscription_is_on_the_free_plan() -> None:
    decision = decide(NO_SUBSCRIPTION, PlanRequirement("free"), CATALOG, NOW)
    assert decision.allowed
    assert decision.plan == "free"
    assert decision.status is None


def test_an_account_without_subscription_is_denied_a_paid_plan() -> None:
    decision = decide(NO_SUBSCRIPTION, PlanRequirement("pro"), CATALOG, NOW)
    assert not decision.allowed
    assert decision.denial_reason is DenialReason.NO_SUBSCRIPTION
    assert decision.required_plan == "pro"


def test_without_a_free_plan_no_subscription_means_no_plan() -> None:
    decision = decide(NO_SUBSCRIPTION, FeatureRequirement("exports"), Catalog([PRO]), NOW)
    assert not decision.allowed
    assert decision.plan is None


def test_a_higher_plan_satisfies_a_lower_requirement() -> None:
    decision = decide(subscribed("enterprise"), PlanRequirement("pro"), CATALOG, NOW)
    assert decision.allowed
    assert decision.plan == "enterprise"
    assert decision.state_version == 3


def test_a_lower_plan_is_denied_with_the_plan_needed() -> None:
    decision = decide(subscribed("pro"), PlanRequirement("enterprise"), CATALOG, NOW)
    assert not decision.allowed
    assert decision.denial_reason is DenialReason.PLAN_TOO_LOW
    assert decision.required_plan == "enterprise"


def test_features_come_from_the_plan() -> None:
    assert decide(subscribed("pro"), FeatureRequirement("exports"), CATALOG, NOW).allowed
    denied = decide(subscribed("pro"), FeatureRequirement("sso"), CATALOG, NOW)
    assert denied.denial_reason is DenialReason.FEATURE_NOT_INCLUDED
    assert denied.required_plan == "enterprise"


def test_unknown_plans_and_features_are_errors() -> None:
    with pytest.raises(NotFound) as plan:
        decide(NO_SUBSCRIPTION, PlanRequirement("platinum"), CATALOG, NOW)
    assert plan.value.reason == "PLAN_NOT_FOUND"
    with pytest.raises(NotFound) as feature:
        decide(NO_SUBSCRIPTION, FeatureRequirement("teleport"), CATALOG, NOW)
    assert feature.value.reason == "FEATURE_NOT_FOUND"


def test_trialing_allows() -> None:
    assert decide(
        subscribed(status=SubscriptionStatus.TRIALING), PlanRequirement("pro"), CATALOG, NOW
    ).allowed


def test_past_due_allows_during_the_grace_period() -> None:
    state = subscribed(status=SubscriptionStatus.PAST_DUE, past_due_since=NOW - timedelta(days=6))
    decision = decide(state, PlanRequirement("pro"), CATALOG, NOW)
    assert decision.allowed
    assert decision.grace_period_end == NOW + timedelta(days=1)
    assert decision.valid_until == NOW + timedelta(days=1)


def test_past_due_denies_after_the_grace_period() -> None:
    state = subscribed(status=SubscriptionStatus.PAST_DUE, past_due_since=NOW - timedelta(days=8))
    decision = decide(state, PlanRequirement("pro"), CATALOG, NOW)
    assert not decision.allowed
    assert decision.denial_reason is DenialReason.PAYMENT_OVERDUE
    assert decision.plan == "free"


def test_past_due_without_a_recorded_failure_counts_from_the_period_start() -> None:
    state = subscribed(status=SubscriptionStatus.PAST_DUE)  # period started 10 days ago
    decision = decide(state, PlanRequirement("pro"), CATALOG, NOW)
    assert decision.denial_reason is DenialReason.PAYMENT_OVERDUE


def test_the_grace_period_is_configurable() -> None:
    catalog = Catalog(CATALOG.plans, StatusPolicy(grace_period=timedelta(days=14)))
    state = subscribed(status=SubscriptionStatus.PAST_DUE, past_due_since=NOW - timedelta(days=8))
    assert decide(state, PlanRequirement("pro"), catalog, NOW).allowed


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (SubscriptionStatus.CANCELED, DenialReason.SUBSCRIPTION_CANCELED),
        (SubscriptionStatus.UNPAID, DenialReason.SUBSCRIPTION_INACTIVE),
        (SubscriptionStatus.INCOMPLETE_EXPIRED, DenialReason.SUBSCRIPTION_INACTIVE),
        (SubscriptionStatus.PAUSED, DenialReason.SUBSCRIPTION_INACTIVE),
        (SubscriptionStatus.INCOMPLETE, DenialReason.SUBSCRIPTION_INACTIVE),
    ],
)
def test_lapsed_statuses_deny_with_their_reason(
    status: SubscriptionStatus, reason: DenialReason
) -> None:
    decision = decide(subscribed(status=status), PlanRequirement("pro"), CATALOG, NOW)
    assert not decision.allowed
    assert decision.denial_reason is reason
    assert decision.plan == "free"  # they fall back to the free plan


def test_cancel_at_period_end_allows_until_the_period_ends() -> None:
    state = subscribed(cancel_at_period_end=True)
    decision = decide(state, PlanRequirement("pro"), CATALOG, NOW)
    assert decision.allowed
    assert decision.valid_until == NOW + timedelta(days=20)

    later = decide(state, PlanRequirement("pro"), CATALOG, NOW + timedelta(days=21))
    assert not later.allowed
    assert later.denial_reason is DenialReason.SUBSCRIPTION_CANCELED


def test_a_cancellation_scheduled_at_a_date_ends_access_then() -> None:
    cancel_at = NOW + timedelta(days=5)  # before the period's end
    state = subscribed(cancel_at=cancel_at)
    decision = decide(state, PlanRequirement("pro"), CATALOG, NOW)
    assert decision.allowed
    assert decision.valid_until == cancel_at

    later = decide(state, PlanRequirement("pro"), CATALOG, cancel_at)
    assert not later.allowed
    assert later.denial_reason is DenialReason.SUBSCRIPTION_CANCELED


def test_the_earlier_of_the_period_end_and_cancel_at_counts() -> None:
    state = subscribed(cancel_at_period_end=True, cancel_at=NOW + timedelta(days=40))
    decision = decide(state, PlanRequirement("pro"), CATALOG, NOW)
    assert decision.valid_until == NOW + timedelta(days=20)  # the period ends first


def test_an_ongoing_subscription_holds_until_the_next_change() -> None:
    decision = decide(subscribed(), PlanRequirement("pro"), CATALOG, NOW)
    assert decision.valid_until is None
    assert decision.current_period_end == NOW + timedelta(days=20)


def test_the_catalogue_rejects_duplicate_names_and_ranks() -> None:
    with pytest.raises(ValueError, match="names"):
        Catalog([PRO, replace(ENTERPRISE, name="pro")])
    with pytest.raises(ValueError, match="ranks"):
        Catalog([PRO, replace(ENTERPRISE, rank=10)])


def test_plans_are_found_by_price_id_or_lookup_key() -> None:
    assert CATALOG.plan_for_price("price_any", "pro_m") is PRO
    assert CATALOG.plan_for_price("price_e", None) is ENTERPRISE
    assert CATALOG.plan_for_price("price_other", "other") is None
