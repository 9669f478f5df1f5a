"""Deliveries built to mislead, against real processes; the emulator holds the truth.

Each test first lets the emulator's own webhooks set the scene, then drops
them (chaos `drop`) and changes the truth in the emulator behind the
service's back. What reaches the gateway after that is built by the test
from the emulator's objects: out of order, in one second, of another API
version, from an earlier bout. The service must end where Stripe is.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from billing.v1 import billing_pb2
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import StripeEventRow
from tests import stripe_payloads
from tests.e2e.stripe_side import paid_checkout
from tests.e2e.webhooks.conftest import WebhookStack
from tests.e2e.webhooks.test_webhook_flow import flushed, start_paid_subscription, stripe_client
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

# Every case that races runs this many times, on as many subscriptions at once.
ROUNDS = 20


def drop_emulator_deliveries(stack: WebhookStack) -> None:
    """The scene is set: from now on the emulator's own deliveries are dropped
    (the `calm` fixture restores them)."""
    flushed(stack)
    stack.control.set_chaos(drop=True)


def envelope(
    event_type: str, obj: dict[str, Any], created: int, api_version: str | None = None
) -> bytes:
    return json.dumps(
        {
            "id": f"evt_adv_{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "created": created,
            "api_version": api_version or stripe.api_version,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
        }
    ).encode()


def deliver(stack: WebhookStack, payload: bytes) -> httpx.Response:
    return httpx.post(
        stack.gateway.webhook_url,
        content=payload,
        headers={"Stripe-Signature": signature_header(payload, stack.secret)},
        timeout=30,
    )


def deliver_all(stack: WebhookStack, payloads: list[bytes]) -> None:
    """All at once, from as many connections."""
    with ThreadPoolExecutor(max_workers=min(len(payloads), 64)) as pool:
        answers = list(pool.map(lambda p: deliver(stack, p), payloads))
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]


def truth(stack: WebhookStack, subscription_id: str) -> dict[str, Any]:
    """The subscription as Stripe holds it, as plain JSON (the library reads
    decimal strings into Decimal)."""
    found = stripe_client(stack).v1.subscriptions.retrieve(subscription_id).to_dict()
    return dict(json.loads(json.dumps(found, default=str)))


def recorded(stack: WebhookStack, account_id: str) -> billing_pb2.Subscription:
    return (
        stack.stub()
        .GetSubscription(billing_pb2.GetSubscriptionRequest(account_id=account_id), timeout=5)
        .subscription
    )


def status_name(status: str) -> int:
    return int(billing_pb2.SubscriptionStatus.Value(f"SUBSCRIPTION_STATUS_{status.upper()}"))


def stored_status(stack: WebhookStack, payload: bytes) -> tuple[str, str | None]:
    engine = make_engine(stack.server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            status, reason = connection.execute(
                select(StripeEventRow.status, StripeEventRow.reason).where(
                    StripeEventRow.event_id == json.loads(payload)["id"]
                )
            ).one()
            return str(status), reason
    finally:
        engine.dispose()


def rejections(stack: WebhookStack, reason: str) -> float:
    """The server's count of events rejected for `reason`."""
    metrics = httpx.get(stack.server.metrics_url, timeout=5).text
    line = f'paymentsvc_webhook_events_rejected_total{{reason="{reason}"}} '
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def accounts(stack: WebhookStack, count: int) -> list[tuple[str, str]]:
    """Paid subscriptions, recorded through the emulator's own webhooks."""
    made = [f"acct_adv_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    return [(account, start_paid_subscription(stack, account)) for account in made]


def test_same_second_updates_with_different_states_end_as_stripe_holds_them(
    calm: WebhookStack,
) -> None:
    rng = random.Random(11)
    subscribed = accounts(calm, ROUNDS)
    drop_emulator_deliveries(calm)
    payloads, expected = [], {}
    created = int(time.time())
    for account, subscription_id in subscribed:
        final = rng.choice(["past_due", "unpaid", "active"])
        calm.control.update_subscription(subscription_id, status=final)
        expected[account] = truth(calm, subscription_id)["status"]
        for status in rng.sample(["past_due", "unpaid", "active"], 3):
            obj = {**truth(calm, subscription_id), "status": status}
            payloads.append(envelope("customer.subscription.updated", obj, created))
    rng.shuffle(payloads)
    deliver_all(calm, payloads)
    calm.applied()
    wrong = {
        account: recorded(calm, account).status
        for account in expected
        if recorded(calm, account).status != status_name(expected[account])
    }
    assert not wrong


def test_a_deletion_and_an_update_in_one_second_leave_it_canceled(calm: WebhookStack) -> None:
    subscribed = accounts(calm, ROUNDS)
    drop_emulator_deliveries(calm)
    payloads = []
    created = int(time.time())
    for _, subscription_id in subscribed:
        stripe_client(calm).v1.subscriptions.cancel(subscription_id)
        canceled = truth(calm, subscription_id)
        revived = {**canceled, "status": "past_due", "canceled_at": None, "ended_at": None}
        payloads += [
            envelope("customer.subscription.deleted", canceled, created),
            envelope("customer.subscription.updated", revived, created),
        ]
    deliver_all(calm, payloads)
    calm.applied()
    for account, _ in subscribed:
        answer = calm.check(account)
        assert not answer.allowed, account
        assert answer.denial_reason == billing_pb2.DENIAL_REASON_SUBSCRIPTION_CANCELED, account


def test_a_late_failure_from_an_earlier_paid_bout_leaves_the_grace_alone(
    calm: WebhookStack,
) -> None:
    [(account, subscription_id)] = accounts(calm, 1)
    drop_emulator_deliveries(calm)
    calm.control.update_subscription(subscription_id, status="past_due")
    customer = str(truth(calm, subscription_id)["customer"])
    # Two bouts after the subscription began (its first payment was just now).
    soon = int(time.time()) + 2
    first_failure, paid, current_failure = soon, soon + 3, soon + 6

    def invoice_event(kind: str, at: int) -> bytes:
        return envelope(kind, stripe_payloads.invoice(subscription_id, customer), at)

    deliver_all(
        calm,
        [
            invoice_event("invoice.payment_succeeded", paid),
            invoice_event("invoice.payment_failed", current_failure),
        ],
    )
    calm.applied()
    assert deliver(calm, invoice_event("invoice.payment_failed", first_failure)).is_success
    calm.applied()
    answer = calm.check(account)
    assert answer.allowed  # within the grace of the current bout
    assert answer.grace_period_end.seconds == current_failure + 7 * 86400


def test_a_second_customer_of_an_account_is_followed_to_the_end(calm: WebhookStack) -> None:
    [(account, first)] = accounts(calm, 1)
    client = stripe_client(calm)
    client.v1.subscriptions.cancel(first)
    flushed(calm)
    assert not calm.check(account).allowed
    # Back through a checkout with a new customer; nothing in Stripe names the account.
    customer = client.v1.customers.create({"email": f"{uuid.uuid4().hex[:8]}@example.com"})
    second = paid_checkout(client, calm.control, account, customer.id)
    flushed(calm)
    assert calm.check(account).allowed
    client.v1.subscriptions.cancel(second)
    flushed(calm)
    answer = calm.check(account)
    assert not answer.allowed
    assert answer.denial_reason == billing_pb2.DENIAL_REASON_SUBSCRIPTION_CANCELED


def test_a_checkout_with_another_accounts_customer_is_refused_once_and_for_all(
    calm: WebhookStack,
) -> None:
    [(owner, subscription_id)] = accounts(calm, 1)
    client = stripe_client(calm)
    customer = str(truth(calm, subscription_id)["customer"])
    intruder = f"acct_adv_{uuid.uuid4().hex[:10]}"
    rejected_before = rejections(calm, "CUSTOMER_LINKED_ELSEWHERE")
    paid_checkout(client, calm.control, intruder, customer)
    flushed(calm)  # every delivery answered 2xx: Stripe has nothing to retry
    summary = calm.control.deliveries()["summary"]
    assert summary["pending"] == 0, summary
    engine = make_engine(calm.server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            refused = connection.execute(
                select(StripeEventRow.status, StripeEventRow.reason).where(
                    StripeEventRow.type == "checkout.session.completed",
                    StripeEventRow.account_hint == intruder,
                )
            ).one()
    finally:
        engine.dispose()
    assert tuple(refused) == ("rejected", "CUSTOMER_LINKED_ELSEWHERE")
    assert rejections(calm, "CUSTOMER_LINKED_ELSEWHERE") == rejected_before + 1
    assert not calm.check(intruder).allowed
    assert calm.check(owner).allowed


def test_an_object_stripe_does_not_know_is_rejected_not_retried(calm: WebhookStack) -> None:
    missing = f"sub_adv_{uuid.uuid4().hex[:12]}"
    payload = envelope(
        "invoice.payment_failed",
        stripe_payloads.invoice(missing, f"cus_{uuid.uuid4().hex[:10]}"),
        int(time.time()),
    )
    first = deliver(calm, payload)
    assert (first.status_code, first.json()["outcome"]) == (200, "stored")
    calm.applied()
    assert stored_status(calm, payload) == ("rejected", "STRIPE_OBJECT_MISSING")
    again = deliver(calm, payload)
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")


def test_an_event_of_an_older_api_version_is_settled_by_stripe(calm: WebhookStack) -> None:
    [(account, subscription_id)] = accounts(calm, 1)
    drop_emulator_deliveries(calm)
    calm.control.update_subscription(subscription_id, cancel_at_period_end=True)
    current = truth(calm, subscription_id)
    # 2024-06-20: the period on the subscription, none on its items.
    old = json.loads(json.dumps(current))
    item = old["items"]["data"][0]
    old["current_period_start"] = item.pop("current_period_start")
    old["current_period_end"] = item.pop("current_period_end")
    old["status"], old["cancel_at_period_end"] = "past_due", False
    payload = envelope("customer.subscription.updated", old, int(time.time()), "2024-06-20")
    assert deliver(calm, payload).is_success
    calm.applied()
    now = recorded(calm, account)
    assert now.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE
    assert now.cancel_at_period_end
    assert now.current_period_end.seconds == current["items"]["data"][0]["current_period_end"]


def test_fifty_copies_of_an_event_that_needs_stripe_ask_it_once(calm: WebhookStack) -> None:
    [(account, subscription_id)] = accounts(calm, 1)
    drop_emulator_deliveries(calm)
    customer = str(truth(calm, subscription_id)["customer"])
    payload = envelope(
        "invoice.payment_succeeded",
        stripe_payloads.invoice(subscription_id, customer),
        int(time.time()),
    )
    route = "GET /v1/subscriptions/{id}"
    before = calm.control.route_count(route)
    deliver_all(calm, [payload] * 50)
    calm.applied()
    assert calm.control.route_count(route) - before == 1
    assert calm.check(account).allowed


def test_a_signature_from_the_future_is_refused_and_nothing_is_stored(
    calm: WebhookStack,
) -> None:
    payload = envelope(
        "customer.subscription.created",
        stripe_payloads.subscription(
            f"sub_adv_{uuid.uuid4().hex[:10]}",
            f"cus_{uuid.uuid4().hex[:10]}",
            period_start=datetime.now(UTC) - timedelta(minutes=1),
        ),
        int(time.time()),
    )
    future = signature_header(payload, calm.secret, int(time.time()) + 600)
    answer = httpx.post(
        calm.gateway.webhook_url, content=payload, headers={"Stripe-Signature": future}
    )
    assert answer.status_code == 400
    engine = make_engine(calm.server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            found = connection.scalar(
                select(StripeEventRow.event_id).where(
                    StripeEventRow.event_id == json.loads(payload)["id"]
                )
            )
    finally:
        engine.dispose()
    assert found is None
