"""The use cases over the real database, with Stripe faked in memory."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_server.adapters.orm import AuditLogRow
from billing_server.bootstrap import Application
from billing_server.domain.entitlements import DenialReason, FeatureRequirement, PlanRequirement
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer import checkout, lifecycle
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from tests.checkouts import subscribe
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.integration


def test_confirmed_checkout_entitles_the_account_at_once(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    before = check_plan(deps, account_id, PlanRequirement("pro")).decision
    assert before.denial_reason is DenialReason.NO_SUBSCRIPTION

    subscribe(deps, fake_stripe, account_id, "pro")

    after = check_plan(deps, account_id, PlanRequirement("pro")).decision
    assert after.allowed
    assert after.plan == "pro"
    assert after.status is SubscriptionStatus.ACTIVE
    assert after.state_version > before.state_version
    assert after.current_period_end is not None
    assert check_plan(deps, account_id, FeatureRequirement("exports")).decision.allowed


def test_checkout_creates_one_customer_per_account(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    first = checkout.create_checkout(
        deps,
        account_id=account_id,
        plan_name="pro",
        customer_email="a@example.com",
        idempotency_key=None,
        actor="test",
    )
    second = checkout.create_checkout(
        deps,
        account_id=account_id,
        plan_name="enterprise",
        customer_email=None,
        idempotency_key=None,
        actor="test",
    )
    assert first.customer_id == second.customer_id
    assert fake_stripe.calls.count("create_customer") == 1


def test_every_change_is_audited_with_its_actor(
    app: Application, deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    subscribe(deps, fake_stripe, account_id, "pro")
    lifecycle.cancel_subscription(
        deps,
        account_id=account_id,
        timing=lifecycle.CancellationTiming.IMMEDIATELY,
        idempotency_key="k1",
        actor="orders-service",
    )
    with app.database.reader() as session:
        entries = session.scalars(
            select(AuditLogRow).where(AuditLogRow.account_id == account_id).order_by(AuditLogRow.id)
        ).all()
    assert [e.action for e in entries] == [
        "CreateCheckout",
        "ConfirmCheckout",
        "CancelSubscription",
    ]
    assert entries[-1].actor == "orders-service"
    assert entries[-1].idempotency_key == "k1"
    assert all(e.outcome == "ok" for e in entries)
