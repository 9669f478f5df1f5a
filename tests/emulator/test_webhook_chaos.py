"""Misdelivery on request: duplicates, shuffled release, delays, dropped events."""

from __future__ import annotations

import time

import httpx
import pytest
import stripe

from stripe_emulator.testing import RunningEmulator
from tests.emulator.conftest import WEBHOOK_SECRET
from tests.emulator.receiver import Receiver

pytestmark = pytest.mark.integration


def _create_customers(client: stripe.StripeClient, how_many: int) -> list[str]:
    """Create customers; answers their customer.created event ids, oldest first."""
    for n in range(how_many):
        client.v1.customers.create(params={"email": f"chaos-{n}@example.com"})
    events = client.v1.events.list(params={"type": "customer.created", "limit": how_many})
    return [event.id for event in events.data][::-1]


def test_duplicate_delivers_extra_copies_of_the_same_event(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient, receiver: Receiver
) -> None:
    hooked.control.set_chaos(duplicate=2)

    [event_id] = _create_customers(hooked_client, 1)
    hooked.control.flush_webhooks()

    assert receiver.event_ids() == [event_id] * 3
    for delivery in receiver.received:
        stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
    assert [d["duplicate"] for d in hooked.control.deliveries()["deliveries"]] == [
        False,
        True,
        True,
    ]
    assert hooked_client.v1.events.retrieve(event_id).pending_webhooks == 0


def test_shuffle_releases_queued_events_in_another_order(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient, receiver: Receiver
) -> None:
    hooked.control.pause_webhooks()
    hooked.control.set_chaos(shuffle=True)
    recorded = _create_customers(hooked_client, 6)

    hooked.control.resume_webhooks()
    hooked.control.flush_webhooks()

    assert sorted(receiver.event_ids()) == sorted(recorded)
    assert receiver.event_ids() != recorded


def test_drop_records_events_but_never_delivers_them(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient, receiver: Receiver
) -> None:
    hooked.control.set_chaos(drop=True)
    [dropped] = _create_customers(hooked_client, 1)
    summary = hooked.control.flush_webhooks()
    missed = hooked_client.v1.events.list(params={"delivery_success": False})

    hooked.control.set_chaos()
    [delivered] = _create_customers(hooked_client, 1)
    hooked.control.flush_webhooks()

    assert (summary["flushed"], summary["dropped"]) == (True, 1)
    assert [event.id for event in missed.data] == [dropped]
    assert receiver.event_ids() == [delivered]


def test_delay_holds_each_delivery_and_flush_waits_for_it(
    hooked: RunningEmulator, hooked_client: stripe.StripeClient, receiver: Receiver
) -> None:
    hooked.control.set_chaos(delay_s=0.3)
    [event_id] = _create_customers(hooked_client, 1)
    started = time.monotonic()

    summary = hooked.control.flush_webhooks()

    assert time.monotonic() - started >= 0.2
    assert (summary["flushed"], summary["pending"]) == (True, 0)
    assert receiver.event_ids() == [event_id]


def test_chaos_settings_are_validated(hooked: RunningEmulator) -> None:
    answer = httpx.post(f"{hooked.url}/_emulator/webhooks/chaos", json={"duplicate": -1})

    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "duplicate"
