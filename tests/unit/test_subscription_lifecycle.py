"""A subscription's life through the use cases: bought, confirmed, changed,
canceled, over the in-memory database and Stripe."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from billing_server.domain.entitlements import DenialReason, FeatureRequirement, PlanRequirement
from billing_server.domain.errors import FailedPrecondition, NotFound
from billing_server.domain.plans import Proration
from billing_server.domain.subscriptions import AccountState
from billing_server.service_layer import checkout, lifecycle, portal, queries
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from tests import stripe_payloads as payloads
from tests.checkouts import subscribe
from tests.deliveries import deliver_and_apply
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.unit

ACCOUNT = "acct_1"


def start_checkout(deps: Dependencies, plan: str = "pro", email: str | None = None) -> str:
    session = checkout.create_checkout(
        deps,
        account_id=ACCOUNT,
        plan_name=plan,
        customer_email=email,
        idempotency_key=None,
        actor="test",
    )
    return session.id


def cancel(deps: Dependencies, timing: lifecycle.CancellationTiming) -> AccountState:
    return lifecycle.cancel_subscription(
        deps, account_id=ACCOUNT, timing=timing, idempotency_key=None, actor="test"
    )


def change_plan(deps: Dependencies, plan: str) -> AccountState:
    return lifecycle.change_plan(
        deps,
        account_id=ACCOUNT,
        plan_name=plan,
        proration=Proration.CREATE_PRORATIONS,
        idempotency_key=None,
        actor="test",
    )


@pytest.mark.parametrize(
    "email", ["jane@example.com", "jane.doe+billing@mail.example.co.uk", "élodie@exemple.fr"]
)
def test_a_valid_email_reaches_stripe(
    deps: Dependencies, stripe: FakeStripeGateway, email: str
) -> None:
    start_checkout(deps, email=email)
    assert stripe.emails == [email]


def test_a_second_checkout_is_refused_while_a_subscription_lives(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    subscribe(deps, stripe, ACCOUNT)
    with pytest.raises(FailedPrecondition) as error:
        start_checkout(deps, "enterprise")
    assert error.value.reason == "SUBSCRIPTION_EXISTS"


def test_confirming_twice_changes_the_state_once(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    session_id = start_checkout(deps)
    stripe.complete(session_id)
    first = checkout.confirm_checkout(deps, session_id=session_id, account_id=None, actor="t")
    second = checkout.confirm_checkout(deps, session_id=session_id, account_id=None, actor="t")
    assert first.state_version == 1
    assert second.state_version == first.state_version


def test_plan_changes_are_seen_by_the_next_check(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    subscribe(deps, stripe, ACCOUNT)
    assert not check_plan(deps, ACCOUNT, FeatureRequirement("sso")).decision.allowed
    state = change_plan(deps, "enterprise")
    assert state.subscription is not None
    assert state.subscription.plan == "enterprise"
    assert check_plan(deps, ACCOUNT, FeatureRequirement("sso")).decision.allowed


def test_changing_to_the_current_plan_asks_nothing_of_stripe(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    subscribe(deps, stripe, ACCOUNT)
    change_plan(deps, "pro")
    assert "change_price" not in stripe.calls


def test_cancel_at_period_end_keeps_access_and_cancel_now_ends_it(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    subscribe(deps, stripe, ACCOUNT)
    scheduled = cancel(deps, lifecycle.CancellationTiming.AT_PERIOD_END)
    assert scheduled.subscription is not None
    assert scheduled.subscription.cancel_at_period_end
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert decision.allowed
    assert decision.valid_until == decision.current_period_end

    cancel(deps, lifecycle.CancellationTiming.IMMEDIATELY)
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert not decision.allowed
    assert decision.denial_reason is DenialReason.SUBSCRIPTION_CANCELED
    assert decision.plan == "free"


def test_a_cancellation_scheduled_at_a_date_ends_access_at_that_date(
    deps: Dependencies,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    cancel_at = start + timedelta(days=10)  # before the period's end (day 30)
    obj = payloads.subscription(
        "sub_1", "cus_1", period_start=start, cancel_at=cancel_at, account_id=ACCOUNT
    )
    deliver_and_apply(deps, payloads.event("customer.subscription.updated", obj, start))
    recorded = queries.get_subscription(deps, ACCOUNT).subscription
    assert recorded is not None
    assert recorded.cancel_at == cancel_at

    on_day_9 = dataclasses.replace(deps, clock=lambda: start + timedelta(days=9))
    before = check_plan(on_day_9, ACCOUNT, PlanRequirement("pro")).decision
    assert before.allowed
    assert before.valid_until == cancel_at
    on_day_11 = dataclasses.replace(deps, clock=lambda: start + timedelta(days=11))
    after = check_plan(on_day_11, ACCOUNT, PlanRequirement("pro")).decision
    assert not after.allowed
    assert after.denial_reason is DenialReason.SUBSCRIPTION_CANCELED


def test_lifecycle_calls_need_a_live_subscription(deps: Dependencies) -> None:
    with pytest.raises(FailedPrecondition) as error:
        cancel(deps, lifecycle.CancellationTiming.IMMEDIATELY)
    assert error.value.reason == "NO_LIVE_SUBSCRIPTION"
    with pytest.raises(NotFound):
        queries.get_subscription(deps, ACCOUNT)


def test_portal_needs_a_customer(deps: Dependencies, stripe: FakeStripeGateway) -> None:
    with pytest.raises(FailedPrecondition) as error:
        portal.create_portal_session(deps, account_id=ACCOUNT, actor="test")
    assert error.value.reason == "NO_CUSTOMER"
    subscribe(deps, stripe, ACCOUNT)
    url = portal.create_portal_session(deps, account_id=ACCOUNT, actor="test")
    assert url.startswith("https://")
