"""Which account a subscription's events belong to, what waits for one, and
what is rejected (service_layer/event_accounts.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from billing_server.domain.entitlements import DenialReason, PlanRequirement
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from billing_server.service_layer.ingest import IngestOutcome
from billing_server.service_layer.webhooks import apply_all_due
from tests import stripe_payloads as payloads
from tests.deliveries import deliver, deliver_and_apply
from tests.fakes import FakeStripeGateway
from tests.unit.fake_unit_of_work import FakeDatabase
from tests.unit.webhook_deliveries import stored

pytestmark = pytest.mark.unit

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
ACCOUNT = "acct_1"


def allowed(deps: Dependencies, account_id: str = ACCOUNT) -> bool:
    return check_plan(deps, account_id, PlanRequirement("pro")).decision.allowed


def checkout_completed(
    account_id: str, customer: str, subscription_id: str, at: datetime, session: str = "cs_test_1"
) -> bytes:
    return payloads.event(
        "checkout.session.completed",
        payloads.checkout_session(session, account_id, customer, subscription_id),
        at,
    )


def test_events_for_an_unknown_customer_wait_for_it(
    deps: Dependencies, database: FakeDatabase, stripe: FakeStripeGateway
) -> None:
    obj = payloads.subscription("sub_1", "cus_1", period_start=T0)  # no account metadata
    early = payloads.event("customer.subscription.created", obj, T0)
    deliver_and_apply(deps, early)
    row = stored(database, early)
    assert (row.status, row.reason) == ("deferred", "ACCOUNT_UNKNOWN")
    assert not allowed(deps)

    # The checkout links the customer: what waited for it is due at once.
    stripe.subscriptions["sub_1"] = payloads.snapshot(obj)
    deliver_and_apply(
        deps, checkout_completed(ACCOUNT, "cus_1", "sub_1", T0 + timedelta(seconds=2))
    )
    assert allowed(deps)
    assert stored(database, early).status == "processed"


def test_a_customer_named_in_stripe_is_resolved_there(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    stripe.customers["cus_1"] = ACCOUNT
    obj = payloads.subscription("sub_1", "cus_1", period_start=T0)
    deliver_and_apply(deps, payloads.event("customer.subscription.created", obj, T0))
    assert allowed(deps)
    assert stripe.calls.count("account_of_customer") == 1


def test_a_second_customer_of_an_account_finds_it_through_its_subscription(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    def checkout(subscription_id: str, customer: str, at: datetime) -> None:
        stripe.subscriptions[subscription_id] = payloads.snapshot(
            payloads.subscription(subscription_id, customer, period_start=T0)
        )
        deliver_and_apply(
            deps, checkout_completed(ACCOUNT, customer, subscription_id, at, f"cs_test_{customer}")
        )

    def deleted(subscription_id: str, customer: str) -> bytes:
        gone = payloads.subscription(subscription_id, customer, status="canceled", period_start=T0)
        # After the checkout was recorded from a fetch (just now).
        return payloads.event(
            "customer.subscription.deleted", gone, datetime.now(UTC) + timedelta(seconds=2)
        )

    checkout("sub_1", "cus_1", T0)  # links the account's first customer
    deliver_and_apply(deps, deleted("sub_1", "cus_1"))
    # The account comes back through a checkout that made a second customer;
    # neither that customer nor the subscription's metadata names the account.
    checkout("sub_2", "cus_2", T0 + timedelta(seconds=10))
    assert allowed(deps)

    deliver_and_apply(deps, deleted("sub_2", "cus_2"))
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert decision.denial_reason is DenialReason.SUBSCRIPTION_CANCELED


def test_a_checkout_with_a_customer_of_another_account_is_rejected(
    deps: Dependencies, database: FakeDatabase, stripe: FakeStripeGateway
) -> None:
    owner = "acct_owner"
    stripe.subscriptions["sub_a"] = payloads.snapshot(
        payloads.subscription("sub_a", "cus_1", period_start=T0, account_id=owner)
    )
    deliver_and_apply(deps, checkout_completed(owner, "cus_1", "sub_a", T0, "cs_test_a"))
    assert allowed(deps, owner)

    stripe.subscriptions["sub_b"] = payloads.snapshot(
        payloads.subscription("sub_b", "cus_1", period_start=T0)
    )
    foreign = checkout_completed(ACCOUNT, "cus_1", "sub_b", T0 + timedelta(seconds=10), "cs_b")
    assert deliver(deps, foreign).outcome is IngestOutcome.STORED
    apply_all_due(deps)
    row = stored(database, foreign)
    assert (row.status, row.reason) == ("rejected", "CUSTOMER_LINKED_ELSEWHERE")
    assert not allowed(deps)
    assert database.accounts[owner].customer_id == "cus_1"


def test_an_object_stripe_does_not_know_is_rejected(
    deps: Dependencies, database: FakeDatabase
) -> None:
    payload = payloads.event("invoice.payment_failed", payloads.invoice("sub_1", "cus_1"), T0)
    deliver_and_apply(deps, payload)  # sub_1 was never created in the fake Stripe
    row = stored(database, payload)
    assert (row.status, row.reason) == ("rejected", "STRIPE_OBJECT_MISSING")


def test_an_event_deferred_for_days_is_rejected(deps: Dependencies, database: FakeDatabase) -> None:
    nobodys = payloads.subscription("sub_1", "cus_1", period_start=T0)
    payload = payloads.event("customer.subscription.created", nobodys, T0)
    deliver_and_apply(deps, payload)
    assert stored(database, payload).status == "deferred"
    days_later = dataclasses.replace(deps, clock=lambda: datetime.now(UTC) + timedelta(days=4))
    apply_all_due(days_later)
    row = stored(database, payload)
    assert (row.status, row.reason) == ("rejected", "ACCOUNT_NOT_FOUND")
