"""Webhook delivery over real HTTP to a receiver started by the test."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.testing import RunningEmulator, run_emulator
from tests.emulator.conftest import API_KEY, WEBHOOK_SECRET
from tests.emulator.receiver import Receiver, run_receiver

pytestmark = pytest.mark.integration


def _subscribe_through_checkout(client: stripe.StripeClient, emulator: RunningEmulator) -> None:
    customer = client.v1.customers.create(params={"email": "hooks@example.com"})
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": "Pro"},
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }
    )
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://example.com/success",
        }
    )
    emulator.control.complete_checkout(session.id)


def _all_event_ids_oldest_first(client: stripe.StripeClient) -> list[str]:
    return [event.id for event in client.v1.events.list(params={"limit": 100}).data][::-1]


def test_completed_checkout_delivers_every_event_signed_and_in_order(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient, receiver: Receiver
) -> None:
    _subscribe_through_checkout(hooked_client, hooked)

    summary = hooked.control.flush_webhooks()

    assert summary["flushed"] is True
    assert summary["pending"] == 0
    assert {
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.payment_succeeded",
    } <= set(receiver.event_types())
    assert receiver.event_ids() == _all_event_ids_oldest_first(hooked_client)
    for delivery in receiver.received:
        verified = stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
        assert verified.id == delivery.event["id"]
        assert delivery.content_type == "application/json; charset=utf-8"
        assert delivery.user_agent == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    acknowledged = hooked_client.v1.events.list(params={"delivery_success": True, "limit": 100})
    assert len(acknowledged.data) == len(receiver.received)


def test_registered_endpoint_gets_only_its_events_signed_with_its_own_secret(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient
) -> None:
    with run_receiver() as billing_hooks:
        endpoint = hooked_client.v1.webhook_endpoints.create(
            params={"url": billing_hooks.url, "enabled_events": ["customer.created"]}
        )
        customer = hooked_client.v1.customers.create(params={"email": "only@example.com"})
        hooked_client.v1.products.create(params={"name": "Not for this endpoint"})

        hooked.control.flush_webhooks()

        assert billing_hooks.event_types() == ["customer.created"]
        delivery = billing_hooks.received[0]
        assert endpoint.secret is not None
        verified = stripe.Webhook.construct_event(
            delivery.body, delivery.signature, endpoint.secret
        )
        assert verified.data.object["id"] == customer.id
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
        # Both the start-up endpoint and this one acknowledged it.
        assert hooked_client.v1.events.retrieve(verified.id).pending_webhooks == 0


def test_failing_receiver_is_retried_until_it_answers_200(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    hooked_client.v1.customers.create(params={"email": "retry@example.com"})

    summary = hooked.control.flush_webhooks()

    [event_id] = set(receiver.event_ids())
    assert receiver.event_ids() == [event_id] * 3
    log = [d for d in hooked.control.deliveries()["deliveries"] if d["event_id"] == event_id]
    assert [(d["attempt"], d["status"]) for d in log] == [(1, 500), (2, 500), (3, 200)]
    assert log[0]["endpoint_url"] == receiver.url
    assert log[0]["event_type"] == "customer.created"
    assert log[0]["delivered_at"] < log[1]["delivered_at"] < log[2]["delivered_at"]
    assert (summary["succeeded"], summary["failed_attempts"], summary["pending"]) == (1, 2, 0)
    assert hooked_client.v1.events.retrieve(event_id).pending_webhooks == 0


def test_undelivered_event_is_listed_as_failed_until_resent(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient, receiver: Receiver
) -> None:
    receiver.failing = True
    hooked_client.v1.customers.create(params={"email": "resend@example.com"})
    hooked.control.flush_webhooks()  # all four attempts fail, then it gives up
    [event_id] = set(receiver.event_ids())
    failed = hooked_client.v1.events.list(params={"delivery_success": False})

    receiver.failing = False
    resent = hooked.control.resend_event(event_id)
    hooked.control.flush_webhooks()

    assert [e.id for e in failed.data] == [event_id]
    assert failed.data[0].pending_webhooks == 1
    assert resent == {"id": event_id, "endpoints": [receiver.url]}
    assert receiver.event_ids() == [event_id] * 5
    assert hooked_client.v1.events.retrieve(event_id).pending_webhooks == 0
    assert hooked_client.v1.events.list(params={"delivery_success": False}).data == []


def test_unreachable_endpoint_logs_errors_and_gives_up(receiver: Receiver) -> None:
    with run_receiver() as gone:
        dead_url = gone.url  # its server is shut down on leaving the block
    with run_emulator(
        webhook_url=dead_url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_retry_base=0.02,
        webhook_max_attempts=3,
    ) as emulator:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url})
        client.v1.customers.create(params={"email": "dead@example.com"})

        summary = emulator.control.flush_webhooks()

        log = emulator.control.deliveries()["deliveries"]
        assert [(d["attempt"], d["status"]) for d in log] == [
            (1, "error"),
            (2, "error"),
            (3, "error"),
        ]
        assert log[0]["error"]
        assert (summary["flushed"], summary["pending"], summary["failed_attempts"]) == (True, 0, 3)
        assert len(client.v1.events.list(params={"delivery_success": False}).data) == 1


def test_pause_queues_deliveries_until_resume(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient, receiver: Receiver
) -> None:
    hooked.control.pause_webhooks()
    hooked_client.v1.customers.create(params={"email": "paused@example.com"})

    held = hooked.control.flush_webhooks(timeout_s=5)  # answers at once: nothing can move
    received_while_paused = receiver.event_ids()
    hooked.control.resume_webhooks()
    released = hooked.control.flush_webhooks()

    assert (held["flushed"], held["paused"], held["pending"]) == (False, True, 1)
    assert received_while_paused == []
    assert (released["flushed"], released["pending"]) == (True, 0)
    assert receiver.event_types() == ["customer.created"]


def test_later_events_go_out_while_an_earlier_one_waits_to_retry(receiver: Receiver) -> None:
    with run_emulator(
        webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET, webhook_retry_base=0.3
    ) as emulator:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url})
        emulator.control.pause_webhooks()
        client.v1.customers.create(params={"email": "first@example.com"})
        client.v1.customers.create(params={"email": "second@example.com"})
        first, second = _all_event_ids_oldest_first(client)
        receiver.fail_first = 1

        emulator.control.resume_webhooks()
        emulator.control.flush_webhooks()

        assert receiver.event_ids() == [first, second, first]
