"""Subscription changes, cancellation and renewals."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.testing import EmulatorControl

pytestmark = pytest.mark.integration


def _period(sub: stripe.Subscription) -> tuple[int, int]:
    item = sub["items"].data[0]
    return item.current_period_start, item.current_period_end


def _events_since(client: stripe.StripeClient, event_id: str) -> list[stripe.Event]:
    page = client.v1.events.list(params={"ending_before": event_id, "limit": 100})
    return list(reversed(page.data))


def _newest_event(client: stripe.StripeClient) -> str:
    return client.v1.events.list(params={"limit": 1}).data[0].id


def test_changing_the_price_keeps_the_period(
    client: stripe.StripeClient, subscription: stripe.Subscription, unique: str
) -> None:
    premium = client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": f"Premium {unique}"},
            "unit_amount": 3000,
            "recurring": {"interval": "month"},
            "lookup_key": f"premium_{unique}",
        }
    )
    item_id = subscription["items"].data[0].id
    since = _newest_event(client)

    changed = client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": item_id, "price": premium.id}],
            "proration_behavior": "none",
        },
    )

    assert changed["items"].data[0].id == item_id
    assert changed["items"].data[0].price.id == premium.id
    assert changed["items"].data[0].price.lookup_key == f"premium_{unique}"
    assert _period(changed) == _period(subscription)
    updated = _events_since(client, since)
    assert [e.type for e in updated] == ["customer.subscription.updated"]
    previous = updated[0].data.previous_attributes
    assert previous is not None
    assert "items" in previous


def test_always_invoice_bills_the_change_at_once(
    client: stripe.StripeClient, subscription: stripe.Subscription, yearly_price: stripe.Price
) -> None:
    monthly_premium = client.v1.prices.create(
        params={
            "currency": "usd",
            "product": str(yearly_price.product),
            "unit_amount": 2500,
            "recurring": {"interval": "month"},
        }
    )

    changed = client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": subscription["items"].data[0].id, "price": monthly_premium.id}],
            "proration_behavior": "always_invoice",
        },
    )

    assert changed.latest_invoice != subscription.latest_invoice
    assert isinstance(changed.latest_invoice, str)
    invoice = client.v1.invoices.retrieve(changed.latest_invoice)
    assert (invoice.status, invoice.billing_reason) == ("paid", "subscription_update")


def test_unknown_item_id_is_rejected_and_changes_nothing(
    client: stripe.StripeClient, subscription: stripe.Subscription, yearly_price: stripe.Price
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.update(
            subscription.id,
            params={"items": [{"id": "si_missing", "price": yearly_price.id}]},
        )

    assert raised.value.param == "items[0][id]"
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert after["items"].data[0].price.id == subscription["items"].data[0].price.id


def test_cancel_at_period_end_then_renewal_ends_it(
    client: stripe.StripeClient, control: EmulatorControl, subscription: stripe.Subscription
) -> None:
    scheduled = client.v1.subscriptions.update(
        subscription.id, params={"cancel_at_period_end": True}
    )

    assert scheduled.status == "active"
    assert scheduled.cancel_at_period_end is True
    assert scheduled.cancel_at == _period(subscription)[1]
    since = _newest_event(client)

    control.renew_subscription(subscription.id)

    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled"
    assert ended.ended_at is not None
    assert [e.type for e in _events_since(client, since)] == ["customer.subscription.deleted"]


def test_delete_cancels_now(client: stripe.StripeClient, subscription: stripe.Subscription) -> None:
    canceled = client.v1.subscriptions.cancel(
        subscription.id, params={"cancellation_details": {"comment": "too pricey"}}
    )

    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert canceled.ended_at == canceled.canceled_at
    assert canceled.cancellation_details is not None
    assert canceled.cancellation_details.comment == "too pricey"
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.subscriptions.cancel(subscription.id)
    assert again.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})


def test_successful_renewal_starts_the_next_period(
    client: stripe.StripeClient, control: EmulatorControl, subscription: stripe.Subscription
) -> None:
    since = _newest_event(client)

    control.renew_subscription(subscription.id, "succeeded")

    renewed = client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice"]}
    )
    assert renewed.status == "active"
    assert _period(renewed)[0] == _period(subscription)[1]
    invoice = renewed.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.billing_reason) == ("paid", "subscription_cycle")
    assert [e.type for e in _events_since(client, since)] == [
        "customer.subscription.updated",
        "invoice.created",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]


def test_failed_renewal_leaves_the_subscription_past_due(
    client: stripe.StripeClient, control: EmulatorControl, subscription: stripe.Subscription
) -> None:
    since = _newest_event(client)

    control.renew_subscription(subscription.id, "failed")

    past_due = client.v1.subscriptions.retrieve(subscription.id)
    assert past_due.status == "past_due"
    assert isinstance(past_due.latest_invoice, str)
    invoice = client.v1.invoices.retrieve(past_due.latest_invoice)
    assert (invoice.status, invoice.attempt_count, invoice.amount_paid) == ("open", 1, 0)
    assert invoice.next_payment_attempt is not None
    events = _events_since(client, since)
    assert [e.type for e in events] == [
        "invoice.created",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    previous = events[-1].data.previous_attributes
    assert previous is not None
    assert previous["status"] == "active"


def test_list_excludes_canceled_unless_asked(
    client: stripe.StripeClient, subscription: stripe.Subscription
) -> None:
    customer = str(subscription.customer)
    client.v1.subscriptions.cancel(subscription.id)

    default = client.v1.subscriptions.list(params={"customer": customer})
    everything = client.v1.subscriptions.list(params={"customer": customer, "status": "all"})

    assert default.data == []
    assert [s.id for s in everything.data] == [subscription.id]


def test_clock_advance_moves_created_timestamps(
    client: stripe.StripeClient, control: EmulatorControl
) -> None:
    before = client.v1.customers.create().created

    now = control.advance_clock(3600)
    after = client.v1.customers.create().created

    assert after - before >= 3600
    assert abs(after - now) <= 2
