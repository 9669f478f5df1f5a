"""The events the service relies on for subscription changes, whether made
through the API or by the customer in the billing portal."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.testing import EmulatorControl, EmulatorControlError

pytestmark = pytest.mark.integration


def _newest_event(client: stripe.StripeClient) -> str:
    return client.v1.events.list(params={"limit": 1}).data[0].id


def _events_since(client: stripe.StripeClient, event_id: str) -> list[stripe.Event]:
    page = client.v1.events.list(params={"ending_before": event_id, "limit": 100})
    return list(reversed(page.data))


def _previous(event: stripe.Event) -> dict[str, object]:
    assert event.data.previous_attributes is not None
    return event.data.previous_attributes.to_dict()


def _premium(client: stripe.StripeClient, unique: str) -> stripe.Price:
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": f"Premium {unique}"},
            "unit_amount": 3000,
            "recurring": {"interval": "month"},
        }
    )


def test_api_metadata_and_cancel_toggles_each_record_an_update(
    client: stripe.StripeClient, subscription: stripe.Subscription
) -> None:
    since = _newest_event(client)

    client.v1.subscriptions.update(subscription.id, params={"metadata": {"seats": "5"}})
    client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": False})

    updates = _events_since(client, since)
    assert [e.type for e in updates] == ["customer.subscription.updated"] * 3
    assert _previous(updates[0]) == {"metadata": {"seats": None}}
    assert _previous(updates[1])["cancel_at_period_end"] is False
    assert _previous(updates[2])["cancel_at_period_end"] is True


def test_always_invoice_records_the_update_then_the_invoice_events(
    client: stripe.StripeClient, subscription: stripe.Subscription, unique: str
) -> None:
    premium = _premium(client, unique)
    since = _newest_event(client)

    client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": subscription["items"].data[0].id, "price": premium.id}],
            "proration_behavior": "always_invoice",
        },
    )

    assert [e.type for e in _events_since(client, since)] == [
        "customer.subscription.updated",
        "invoice.created",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]


def test_delete_records_subscription_deleted(
    client: stripe.StripeClient, subscription: stripe.Subscription
) -> None:
    since = _newest_event(client)

    canceled = client.v1.subscriptions.cancel(subscription.id)

    [deleted] = _events_since(client, since)
    assert deleted.type == "customer.subscription.deleted"
    assert deleted.data.object["id"] == canceled.id
    assert deleted.data.object["status"] == "canceled"


def test_portal_price_change_records_an_update(
    client: stripe.StripeClient,
    control: EmulatorControl,
    subscription: stripe.Subscription,
    unique: str,
) -> None:
    premium = _premium(client, unique)
    since = _newest_event(client)

    changed = control.update_subscription(subscription.id, price=premium.id)

    assert changed["items"]["data"][0]["price"]["id"] == premium.id
    [updated] = _events_since(client, since)
    assert updated.type == "customer.subscription.updated"
    assert updated.request is not None
    assert updated.request.id is None  # no API request behind a portal change
    assert updated.data.object["items"]["data"][0]["price"]["id"] == premium.id
    assert "items" in _previous(updated)


def test_portal_status_and_cancellation_changes_record_updates(
    client: stripe.StripeClient, control: EmulatorControl, subscription: stripe.Subscription
) -> None:
    since = _newest_event(client)

    control.update_subscription(subscription.id, status="unpaid")
    control.update_subscription(subscription.id, cancel_at_period_end=True)

    unpaid, scheduled = _events_since(client, since)
    assert (unpaid.type, unpaid.data.object["status"]) == (
        "customer.subscription.updated",
        "unpaid",
    )
    assert _previous(unpaid) == {"status": "active"}
    assert scheduled.data.object["cancel_at_period_end"] is True
    assert client.v1.subscriptions.retrieve(subscription.id).status == "unpaid"


def test_portal_change_rejects_what_it_does_not_know(
    control: EmulatorControl, subscription: stripe.Subscription
) -> None:
    with pytest.raises(EmulatorControlError) as raised:
        control.update_subscription(subscription.id, colour="blue")

    assert raised.value.status == 400
    assert raised.value.body["error"]["param"] == "colour"
