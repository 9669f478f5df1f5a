"""Stripe's truth reaches CheckPlan through webhooks alone, whatever befalls them."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import stripe
from sqlalchemy import select

from billing.v1 import billing_pb2
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import StripeEventRow
from tests import stripe_payloads
from tests.e2e.services import run_script, wait_until
from tests.e2e.webhooks.conftest import WebhookStack
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

PRO, ENTERPRISE = "paymentsvc_pro_monthly", "paymentsvc_enterprise_monthly"


def start_paid_subscription(stack: WebhookStack, account_id: str, plan: str = "pro") -> str:
    """Checkout completed in Stripe; no ConfirmCheckout: only webhooks tell the service."""
    session = stack.stub().CreateCheckout(
        billing_pb2.CreateCheckoutRequest(account_id=account_id, plan=plan), timeout=10
    )
    completed = stack.control.complete_checkout(session.session_id)
    return str(completed["subscription"])


def stripe_client(stack: WebhookStack) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_e2e", base_addresses={"api": stack.emulator.url}, max_network_retries=0
    )


def flushed(stack: WebhookStack) -> None:
    """Every delivery acknowledged (stored), then every stored event applied."""
    # A bound, not a measure: on a loaded machine hundreds of deliveries,
    # one at a time per endpoint, take a while.
    summary = stack.control.flush_webhooks(timeout_s=90)
    assert summary["flushed"], summary
    stack.applied()


def test_a_paid_checkout_entitles_the_account_through_webhooks(
    calm: WebhookStack, account_id: str
) -> None:
    start_paid_subscription(calm, account_id)
    flushed(calm)
    answer = calm.check(account_id)
    assert answer.allowed
    assert answer.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE


def test_a_failed_renewal_moves_the_account_to_past_due(
    calm: WebhookStack, account_id: str
) -> None:
    subscription = start_paid_subscription(calm, account_id)
    flushed(calm)
    calm.control.renew_subscription(subscription, outcome="failed")
    flushed(calm)
    answer = calm.check(account_id)
    assert answer.status == billing_pb2.SUBSCRIPTION_STATUS_PAST_DUE
    assert answer.allowed  # within the grace period
    assert answer.HasField("grace_period_end")


def test_a_deletion_in_stripe_denies(calm: WebhookStack, account_id: str) -> None:
    subscription = start_paid_subscription(calm, account_id)
    flushed(calm)
    stripe_client(calm).v1.subscriptions.cancel(subscription)
    flushed(calm)
    answer = calm.check(account_id)
    assert not answer.allowed
    assert answer.denial_reason == billing_pb2.DENIAL_REASON_SUBSCRIPTION_CANCELED


def test_a_plan_change_in_the_portal_is_followed(calm: WebhookStack, account_id: str) -> None:
    subscription = start_paid_subscription(calm, account_id)
    flushed(calm)
    enterprise = stripe_client(calm).v1.prices.list({"lookup_keys": [ENTERPRISE]}).data[0].id
    calm.control.update_subscription(subscription, price=enterprise)
    flushed(calm)
    assert calm.check(account_id, plan="enterprise").allowed


def test_the_same_event_fifty_times_at_once_is_applied_once(
    calm: WebhookStack, account_id: str
) -> None:
    suffix = uuid.uuid4().hex[:10]
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    payload = stripe_payloads.event(
        "customer.subscription.created",
        stripe_payloads.subscription(
            f"sub_{suffix}", f"cus_{suffix}", period_start=created, account_id=account_id
        ),
        created,
    )

    def deliver(_: int) -> str:
        response = httpx.post(
            calm.gateway.webhook_url,
            content=payload,
            headers={"Stripe-Signature": signature_header(payload, calm.secret)},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["outcome"])

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(deliver, range(50)))
    assert outcomes.count("stored") == 1
    assert outcomes.count("duplicate") == 49
    calm.applied()
    assert calm.check(account_id).state_version == 1
    engine = make_engine(calm.server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            attempts = connection.scalar(
                select(StripeEventRow.attempts).where(
                    StripeEventRow.event_id == json.loads(payload)["id"]
                )
            )
    finally:
        engine.dispose()
    assert attempts == 1


def test_a_shuffled_duplicated_stream_ends_in_stripes_state(calm: WebhookStack) -> None:
    accounts = [f"acct_shuffle_{uuid.uuid4().hex[:8]}" for _ in range(20)]
    subscriptions = {a: start_paid_subscription(calm, a) for a in accounts}
    flushed(calm)
    client = stripe_client(calm)
    prices = {
        key: client.v1.prices.list({"lookup_keys": [key]}).data[0].id for key in (PRO, ENTERPRISE)
    }

    calm.control.pause_webhooks()
    calm.control.set_chaos(duplicate=1, shuffle=True)
    for step in range(10):
        for n, account in enumerate(accounts):
            changes: dict[str, object] = {
                "price": prices[ENTERPRISE if (step + n) % 2 else PRO],
                "cancel_at_period_end": (step * n) % 3 == 0,
            }
            calm.control.update_subscription(subscriptions[account], **changes)
    calm.control.resume_webhooks()
    flushed(calm)

    for account, subscription_id in subscriptions.items():
        truth = client.v1.subscriptions.retrieve(subscription_id).to_dict()
        expected_plan = (
            "enterprise"
            if truth["items"]["data"][0]["price"]["id"] == prices[ENTERPRISE]
            else "pro"
        )
        recorded = (
            calm.stub()
            .GetSubscription(billing_pb2.GetSubscriptionRequest(account_id=account), timeout=5)
            .subscription
        )
        assert recorded.plan == expected_plan, account
        assert recorded.cancel_at_period_end == truth["cancel_at_period_end"], account


def test_events_sent_while_the_server_is_down_are_applied_after(
    calm: WebhookStack, account_id: str
) -> None:
    calm.server.process.stop()
    session_account = account_id
    # Stripe-side only: a subscription started while the server is away.
    customer = stripe_client(calm).v1.customers.create(
        {"metadata": {"account_id": session_account}}
    )
    pro = stripe_client(calm).v1.prices.list({"lookup_keys": [PRO]}).data[0].id
    session = stripe_client(calm).v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "client_reference_id": session_account,
            "line_items": [{"price": pro, "quantity": 1}],
            "success_url": "https://app.example/done",
        }
    )
    calm.control.complete_checkout(session.id)
    wait_until(
        lambda: calm.control.deliveries()["summary"]["failed_attempts"] > 0,
        10,
        "deliveries to fail while the server is down",
    )
    calm.restart_server()
    flushed(calm)
    assert calm.check(account_id).allowed


def test_a_replay_recovers_events_that_were_never_delivered(
    calm: WebhookStack, account_id: str
) -> None:
    calm.control.set_chaos(drop=True)
    start_paid_subscription(calm, account_id)
    assert not calm.check(account_id).allowed  # nothing arrived

    replay = run_script(["billing-admin", "events", "replay", "--since", "1h"], calm.server.env)
    assert replay.returncode == 0, replay.stderr
    # Every event the chaos dropped is stored now, and applied.
    counts = re.search(r"stored (\d+): applied (\d+)", replay.stdout)
    assert counts is not None, replay.stdout
    assert int(counts[1]) >= 1
    assert counts[1] == counts[2], replay.stdout
    # Written by another process: the server hears of it (NOTIFY, or polling
    # on SQLite) within moments, not at once.
    wait_until(lambda: calm.check(account_id).allowed, 3, "the replayed state to be seen")
    again = run_script(["billing-admin", "events", "replay", "--since", "1h"], calm.server.env)
    assert "stored 0" in again.stdout, again.stdout
