"""The use cases over the real database, with Stripe faked in memory."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from billing_server.adapters.orm import AccountRow, AuditLogRow, SubscriptionRow
from billing_server.bootstrap import Application
from billing_server.domain.entitlements import DenialReason, FeatureRequirement, PlanRequirement
from billing_server.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from billing_server.domain.plans import Proration
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer import checkout, lifecycle, portal, queries
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.integration


def subscribe(deps: Dependencies, stripe: FakeStripeGateway, account_id: str, plan: str) -> None:
    session = checkout.create_checkout(
        deps,
        account_id=account_id,
        plan_name=plan,
        customer_email=None,
        idempotency_key=None,
        actor="test",
    )
    stripe.complete(session.id)
    checkout.confirm_checkout(deps, session_id=session.id, account_id=account_id, actor="test")


def rows(app: Application, model: type, **where: object) -> int:
    with app.database.reader() as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(session.scalar(query) or 0)


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


def test_unknown_plan_is_not_found_and_writes_nothing(
    app: Application, deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    with pytest.raises(NotFound):
        checkout.create_checkout(
            deps,
            account_id=account_id,
            plan_name="platinum",
            customer_email=None,
            idempotency_key=None,
            actor="test",
        )
    assert fake_stripe.calls == []
    assert rows(app, AccountRow, account_id=account_id) == 0


@pytest.mark.parametrize(
    ("account", "plan", "email", "field"),
    [
        ("", "pro", None, "account_id"),
        ("x" * 129, "pro", None, "account_id"),
        ("has space", "pro", None, "account_id"),
        ("acct_ok", "", None, "plan"),
        ("acct_ok", "p" * 65, None, "plan"),
        ("acct_ok", "pro", "not-an-email", "customer_email"),
        ("acct_ok", "pro", "a@" + "b" * 300, "customer_email"),
        ("acct_ok", "pro", "jane\x00@example.com", "customer_email"),
        ("acct_ok", "pro", "jane@exa\x07mple.com", "customer_email"),
        ("acct_ok", "pro", "a@b", "customer_email"),
        ("acct_ok", "pro", "<script>@x.com", "customer_email"),
        ("acct_ok", "pro", "jane@@example.com", "customer_email"),
        ("acct_ok", "pro", "jane@ex@ample.com", "customer_email"),
        ("acct_ok", "pro", "jane doe@example.com", "customer_email"),
    ],
)
def test_bad_input_is_an_invalid_argument_naming_the_field(
    deps: Dependencies,
    fake_stripe: FakeStripeGateway,
    account: str,
    plan: str,
    email: str | None,
    field: str,
) -> None:
    with pytest.raises(InvalidArgument) as error:
        checkout.create_checkout(
            deps,
            account_id=account,
            plan_name=plan,
            customer_email=email,
            idempotency_key=None,
            actor="test",
        )
    assert error.value.field == field
    assert fake_stripe.calls == []


@pytest.mark.parametrize(
    "email", ["jane@example.com", "jane.doe+billing@mail.example.co.uk", "élodie@exemple.fr"]
)
def test_a_valid_email_reaches_stripe(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str, email: str
) -> None:
    checkout.create_checkout(
        deps,
        account_id=account_id,
        plan_name="pro",
        customer_email=email,
        idempotency_key=None,
        actor="test",
    )
    assert fake_stripe.emails == [email]


def test_the_free_plan_cannot_be_bought(deps: Dependencies, account_id: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        checkout.create_checkout(
            deps,
            account_id=account_id,
            plan_name="free",
            customer_email=None,
            idempotency_key=None,
            actor="test",
        )
    assert error.value.reason == "PLAN_NOT_PURCHASABLE"


def test_a_second_checkout_is_refused_while_a_subscription_lives(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    subscribe(deps, fake_stripe, account_id, "pro")
    with pytest.raises(FailedPrecondition) as error:
        checkout.create_checkout(
            deps,
            account_id=account_id,
            plan_name="enterprise",
            customer_email=None,
            idempotency_key=None,
            actor="test",
        )
    assert error.value.reason == "SUBSCRIPTION_EXISTS"


def test_an_open_checkout_cannot_be_confirmed(
    app: Application, deps: Dependencies, account_id: str
) -> None:
    session = checkout.create_checkout(
        deps,
        account_id=account_id,
        plan_name="pro",
        customer_email=None,
        idempotency_key=None,
        actor="test",
    )
    with pytest.raises(FailedPrecondition) as error:
        checkout.confirm_checkout(deps, session_id=session.id, account_id=None, actor="test")
    assert error.value.reason == "CHECKOUT_NOT_COMPLETE"
    assert rows(app, SubscriptionRow, account_id=account_id) == 0


def test_a_checkout_of_another_account_is_refused(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    session = checkout.create_checkout(
        deps,
        account_id=account_id,
        plan_name="pro",
        customer_email=None,
        idempotency_key=None,
        actor="test",
    )
    fake_stripe.complete(session.id)
    with pytest.raises(PermissionDenied):
        checkout.confirm_checkout(deps, session_id=session.id, account_id="acct_other", actor="t")


def test_confirming_twice_changes_the_state_once(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    session = checkout.create_checkout(
        deps,
        account_id=account_id,
        plan_name="pro",
        customer_email=None,
        idempotency_key=None,
        actor="test",
    )
    fake_stripe.complete(session.id)
    first = checkout.confirm_checkout(deps, session_id=session.id, account_id=None, actor="t")
    second = checkout.confirm_checkout(deps, session_id=session.id, account_id=None, actor="t")
    assert second.state_version == first.state_version


def test_plan_changes_are_seen_by_the_next_check(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    subscribe(deps, fake_stripe, account_id, "pro")
    assert not check_plan(deps, account_id, FeatureRequirement("sso")).decision.allowed

    state = lifecycle.change_plan(
        deps,
        account_id=account_id,
        plan_name="enterprise",
        proration=Proration.CREATE_PRORATIONS,
        idempotency_key=None,
        actor="test",
    )
    assert state.subscription is not None
    assert state.subscription.plan == "enterprise"
    assert check_plan(deps, account_id, FeatureRequirement("sso")).decision.allowed


def test_changing_to_the_current_plan_asks_nothing_of_stripe(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    subscribe(deps, fake_stripe, account_id, "pro")
    lifecycle.change_plan(
        deps,
        account_id=account_id,
        plan_name="pro",
        proration=Proration.NONE,
        idempotency_key=None,
        actor="test",
    )
    assert "change_price" not in fake_stripe.calls


def test_cancel_at_period_end_keeps_access_and_cancel_now_ends_it(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    subscribe(deps, fake_stripe, account_id, "pro")
    scheduled = lifecycle.cancel_subscription(
        deps,
        account_id=account_id,
        timing=lifecycle.CancellationTiming.AT_PERIOD_END,
        idempotency_key=None,
        actor="test",
    )
    assert scheduled.subscription is not None
    assert scheduled.subscription.cancel_at_period_end
    decision = check_plan(deps, account_id, PlanRequirement("pro")).decision
    assert decision.allowed
    assert decision.valid_until == decision.current_period_end

    lifecycle.cancel_subscription(
        deps,
        account_id=account_id,
        timing=lifecycle.CancellationTiming.IMMEDIATELY,
        idempotency_key=None,
        actor="test",
    )
    decision = check_plan(deps, account_id, PlanRequirement("pro")).decision
    assert not decision.allowed
    assert decision.denial_reason is DenialReason.SUBSCRIPTION_CANCELED
    assert decision.plan == "free"


def test_lifecycle_calls_need_a_live_subscription(deps: Dependencies, account_id: str) -> None:
    with pytest.raises(FailedPrecondition) as error:
        lifecycle.cancel_subscription(
            deps,
            account_id=account_id,
            timing=lifecycle.CancellationTiming.IMMEDIATELY,
            idempotency_key=None,
            actor="test",
        )
    assert error.value.reason == "NO_LIVE_SUBSCRIPTION"
    with pytest.raises(NotFound):
        queries.get_subscription(deps, account_id)


def test_portal_needs_a_customer(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    with pytest.raises(FailedPrecondition) as error:
        portal.create_portal_session(deps, account_id=account_id, actor="test")
    assert error.value.reason == "NO_CUSTOMER"
    subscribe(deps, fake_stripe, account_id, "pro")
    assert portal.create_portal_session(deps, account_id=account_id, actor="test").startswith(
        "https://"
    )


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
