"""Reconciliation finds what differs from Stripe and repairs it
(service_layer/reconciliation.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from billing_server.domain.entitlements import PlanRequirement
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from billing_server.service_layer.reconciliation import reconcile
from tests import stripe_payloads as payloads
from tests.deliveries import deliver_and_apply
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.unit

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def in_stripe(stripe: FakeStripeGateway, sub_id: str, account_id: str | None) -> None:
    obj = payloads.subscription(sub_id, f"cus_{sub_id}", period_start=T0, account_id=account_id)
    stripe.subscriptions[sub_id] = payloads.snapshot(obj)


def test_missing_and_different_subscriptions_are_found_and_fixed(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    in_stripe(stripe, "sub_missing", "acct_a")  # never heard of here
    obj = payloads.subscription("sub_known", "cus_sub_known", period_start=T0, account_id="acct_b")
    deliver_and_apply(deps, payloads.event("customer.subscription.created", obj, T0))
    # Stripe moved on without telling us (a lost webhook).
    stripe.subscriptions["sub_known"] = dataclasses.replace(
        payloads.snapshot(obj), status=SubscriptionStatus.PAST_DUE
    )

    found = reconcile(deps, fix=False)
    assert (found.checked, found.count("missing"), found.count("different")) == (2, 1, 1)
    assert not check_plan(deps, "acct_a", PlanRequirement("pro")).decision.allowed  # not fixed

    fixed = reconcile(deps, fix=True)
    assert fixed.fixed == 2
    assert check_plan(deps, "acct_a", PlanRequirement("pro")).decision.allowed
    status = check_plan(deps, "acct_b", PlanRequirement("pro")).decision.status
    assert status is SubscriptionStatus.PAST_DUE
    assert reconcile(deps, fix=False).drift == []


def test_subscriptions_of_strangers_are_counted_not_adopted(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    in_stripe(stripe, "sub_1", None)  # no account anywhere
    report = reconcile(deps, fix=True)
    assert (report.foreign, report.fixed, report.drift) == (1, 0, [])
