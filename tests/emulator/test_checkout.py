"""Checkout sessions, completed through the emulator's helper as a customer would."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.testing import EmulatorControl, EmulatorControlError
from tests.emulator.untyped import untyped

pytestmark = pytest.mark.integration

SUCCESS_URL = "https://example.com/success"


def _subscription_session(
    client: stripe.StripeClient, price: stripe.Price, **extra: object
) -> stripe.checkout.Session:
    params = {
        "mode": "subscription",
        "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": SUCCESS_URL,
        "cancel_url": "https://example.com/cancel",
        **extra,
    }
    return client.v1.checkout.sessions.create(params=untyped(params))


def test_session_is_created_open_and_unpaid(
    client: stripe.StripeClient,
    emulator_url: str,
    customer: stripe.Customer,
    monthly_price: stripe.Price,
) -> None:
    session = _subscription_session(
        client,
        monthly_price,
        customer=customer.id,
        client_reference_id="acct_1",
        metadata={"account_id": "acct_1"},
    )

    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert session.url == f"{emulator_url}/checkout/pay/{session.id}"
    assert session.expires_at == session.created + 24 * 60 * 60
    assert session.subscription is None
    assert session.customer == customer.id
    assert session.client_reference_id == "acct_1"
    assert session.metadata is not None
    assert session.metadata.to_dict() == {"account_id": "acct_1"}
    assert (session.mode, session.success_url) == ("subscription", SUCCESS_URL)


def test_completed_session_has_an_active_subscription(
    client: stripe.StripeClient,
    control: EmulatorControl,
    customer: stripe.Customer,
    monthly_price: stripe.Price,
) -> None:
    session = _subscription_session(
        client,
        monthly_price,
        customer=customer.id,
        subscription_data={"metadata": {"account_id": "acct_9"}},
    )

    control.complete_checkout(session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})

    assert (done.status, done.payment_status) == ("complete", "paid")
    sub = done.subscription
    assert isinstance(sub, stripe.Subscription)
    assert sub.status == "active"
    assert sub.customer == customer.id
    assert sub.metadata.to_dict() == {"account_id": "acct_9"}
    item = sub["items"].data[0]
    assert item.id.startswith("si_")
    assert item.price.id == monthly_price.id
    assert item.price.lookup_key == monthly_price.lookup_key
    assert item.current_period_end > item.current_period_start >= sub.created
    assert "current_period_end" not in sub
    assert "current_period_start" not in sub


def test_first_invoice_is_paid_and_names_its_subscription_under_parent(
    client: stripe.StripeClient, subscription: stripe.Subscription
) -> None:
    assert isinstance(subscription.latest_invoice, str)

    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)

    assert invoice.status == "paid"
    assert invoice.billing_reason == "subscription_create"
    assert invoice.amount_paid == invoice.amount_due == 1000
    assert invoice.parent is not None
    assert invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == subscription.id
    assert "subscription" not in invoice  # the pinned version removed it
    line = invoice.lines.data[0]
    assert line.period.end == subscription["items"].data[0].current_period_end


def test_completion_records_events_in_order(
    client: stripe.StripeClient,
    control: EmulatorControl,
    customer: stripe.Customer,
    monthly_price: stripe.Price,
) -> None:
    session = _subscription_session(client, monthly_price, customer=customer.id)
    newest_before = client.v1.events.list(params={"limit": 1}).data[0].id

    control.complete_checkout(session.id)
    events = client.v1.events.list(params={"ending_before": newest_before, "limit": 100})

    assert [e.type for e in reversed(events.data)] == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.created",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    completed = events.data[-1]
    assert completed.data.object["id"] == session.id
    assert completed.data.object["status"] == "complete"
    assert completed.api_version == stripe.api_version


def test_completing_with_only_an_email_creates_the_customer(
    client: stripe.StripeClient,
    control: EmulatorControl,
    monthly_price: stripe.Price,
    unique: str,
) -> None:
    session = _subscription_session(
        client,
        monthly_price,
        customer_email=f"{unique}@example.com",
        subscription_data={"trial_period_days": 14},
    )

    done = control.complete_checkout(session.id)
    sub = client.v1.subscriptions.retrieve(done["subscription"])

    buyer = client.v1.customers.retrieve(done["customer"])
    assert buyer.email == f"{unique}@example.com"
    assert sub.status == "trialing"
    assert sub.trial_end == sub["items"].data[0].current_period_end
    assert sub.trial_end is not None
    assert sub.trial_start is not None
    assert sub.trial_end - sub.trial_start == 14 * 86_400


def test_customer_and_customer_email_are_exclusive(
    client: stripe.StripeClient, customer: stripe.Customer, monthly_price: stripe.Price
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _subscription_session(
            client, monthly_price, customer=customer.id, customer_email="x@example.com"
        )

    assert raised.value.http_status == 400


def test_subscription_mode_needs_a_recurring_price(client: stripe.StripeClient) -> None:
    one_time = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 500, "product_data": {"name": "Sticker"}}
    )

    with pytest.raises(stripe.InvalidRequestError) as raised:
        _subscription_session(client, one_time)

    assert raised.value.param == "line_items[0][price]"


def test_unknown_price_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "success_url": SUCCESS_URL,
                "line_items": [{"price": "price_missing", "quantity": 1}],
            }
        )

    assert (raised.value.code, raised.value.param) == ("resource_missing", "line_items[0][price]")


def test_success_url_is_required_for_hosted_checkout(
    client: stripe.StripeClient, monthly_price: stripe.Price
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [{"price": monthly_price.id, "quantity": 1}],
            }
        )

    assert (raised.value.code, raised.value.param) == ("parameter_missing", "success_url")


def test_expired_session_cannot_be_completed(
    client: stripe.StripeClient, control: EmulatorControl, monthly_price: stripe.Price
) -> None:
    session = _subscription_session(client, monthly_price)

    expired = client.v1.checkout.sessions.expire(session.id)

    assert expired.status == "expired"
    with pytest.raises(EmulatorControlError) as raised:
        control.complete_checkout(session.id)
    assert raised.value.status == 400


def test_billing_portal_session_needs_an_existing_customer(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://example.com/account"}
    )

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.billing_portal.sessions.create(params={"customer": "cus_missing"})

    assert portal.id.startswith("bps_")
    assert portal.object == "billing_portal.session"
    assert portal.customer == customer.id
    assert portal.return_url == "https://example.com/account"
    assert portal.url.endswith(portal.id)
    assert (raised.value.code, raised.value.param) == ("resource_missing", "customer")


def test_session_expires_when_the_clock_passes_expires_at(
    client: stripe.StripeClient, control: EmulatorControl, monthly_price: stripe.Price
) -> None:
    session = _subscription_session(client, monthly_price)

    control.advance_clock(24 * 60 * 60)

    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"


def test_line_items_list_the_sessions_prices_with_their_amounts(
    client: stripe.StripeClient, monthly_price: stripe.Price, unique: str
) -> None:
    session = _subscription_session(client, monthly_price)

    items = client.v1.checkout.sessions.line_items.list(session.id)
    again = client.v1.checkout.sessions.line_items.list(session.id)

    assert [(i.object, i.price and i.price.id, i.quantity) for i in items.data] == [
        ("item", monthly_price.id, 1)
    ]
    item = items.data[0]
    assert item.id.startswith("li_")
    assert item.id == again.data[0].id
    assert (item.amount_subtotal, item.amount_total, item.currency) == (1000, 1000, "usd")
    assert item.description == f"Pro {unique}"
    assert items.url == f"/v1/checkout/sessions/{session.id}/line_items"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.line_items.list("cs_test_nosuchsession")
    assert missing.value.http_status == 404
