"""Events of another API version than the pinned one: never read by their
shape, their subscription and its state are read from Stripe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from billing_server.adapters.stripe_port import InvoiceSummary
from billing_server.domain.entitlements import PlanRequirement
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer import queries
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from tests import stripe_payloads as payloads
from tests.deliveries import deliver_and_apply
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.unit

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
SUB, CUSTOMER, ACCOUNT = "sub_1", "cus_1", "acct_1"


def of_version(payload: bytes, api_version: str) -> bytes:
    event = json.loads(payload)
    event["api_version"] = api_version
    return json.dumps(event).encode()


def test_an_event_of_another_api_version_is_never_read_by_its_shape(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    truth = payloads.subscription(SUB, CUSTOMER, period_start=T0, account_id=ACCOUNT)
    stripe.subscriptions[SUB] = payloads.snapshot(truth)
    # 2024-06-20: the period on the subscription, none on its items.
    old = payloads.subscription(SUB, CUSTOMER, period_start=T0, account_id=ACCOUNT)
    old["current_period_end"] = old["items"]["data"][0].pop("current_period_end")
    old["current_period_start"] = old["items"]["data"][0].pop("current_period_start")
    deliver_and_apply(
        deps, of_version(payloads.event("customer.subscription.updated", old, T0), "2024-06-20")
    )
    assert "get_subscription" in stripe.calls
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert decision.allowed
    assert decision.current_period_end == T0 + timedelta(days=30)


def test_an_invoice_of_another_api_version_is_resolved_through_stripe(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    stripe.subscriptions[SUB] = payloads.snapshot(
        payloads.subscription(SUB, CUSTOMER, status="past_due", period_start=T0, account_id=ACCOUNT)
    )
    invoice = {"id": "in_1", "object": "invoice", "subscription": SUB}
    stripe.invoices["in_1"] = InvoiceSummary("in_1", SUB, CUSTOMER)
    failed_at = T0 + timedelta(hours=1)
    deliver_and_apply(
        deps,
        of_version(payloads.event("invoice.payment_failed", invoice, failed_at), "2024-06-20"),
    )
    assert "get_invoice" in stripe.calls
    subscription = queries.get_subscription(deps, ACCOUNT).subscription
    assert subscription is not None
    assert (subscription.status, subscription.past_due_since) == (
        SubscriptionStatus.PAST_DUE,
        failed_at,
    )
