"""`cancel_at`: a cancellation scheduled for a date, which takes effect once
the emulator's clock passes it. These tests move the clock, so they run on
an emulator of their own (`fresh`)."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.periods import days
from stripe_emulator.testing import EmulatorControl, RunningEmulator
from tests.emulator.untyped import untyped

pytestmark = pytest.mark.integration


@pytest.fixture
def control(fresh: RunningEmulator) -> EmulatorControl:
    return fresh.control


@pytest.fixture
def price(fresh_client: stripe.StripeClient) -> stripe.Price:
    return fresh_client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": "Pro"},
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }
    )


@pytest.fixture
def buyer(fresh_client: stripe.StripeClient) -> stripe.Customer:
    return fresh_client.v1.customers.create(params={"email": "cancel-at@example.com"})


def _event_types(client: stripe.StripeClient, since: str) -> list[str]:
    page = client.v1.events.list(params={"ending_before": since, "limit": 100})
    return [e.type for e in reversed(page.data)]


def _newest_event(client: stripe.StripeClient) -> str:
    return client.v1.events.list(params={"limit": 1}).data[0].id


def test_cancel_at_on_create_is_returned_and_ends_the_subscription_when_time_passes_it(
    fresh_client: stripe.StripeClient,
    control: EmulatorControl,
    buyer: stripe.Customer,
    price: stripe.Price,
) -> None:
    now = control.now()
    cancel_at = now + days(10)
    sub = fresh_client.v1.subscriptions.create(
        params={"customer": buyer.id, "items": [{"price": price.id}], "cancel_at": cancel_at}
    )
    assert (sub.status, sub.cancel_at, sub.cancel_at_period_end) == ("active", cancel_at, False)
    assert sub.canceled_at is not None
    assert sub.cancellation_details is not None
    assert sub.cancellation_details.reason == "cancellation_requested"

    control.advance_clock(days(10) - 60)
    assert fresh_client.v1.subscriptions.retrieve(sub.id).status == "active"
    since = _newest_event(fresh_client)

    control.advance_clock(120)

    ended = fresh_client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", cancel_at)
    # It ends inside the period it was bought for: no renewal is billed.
    assert _event_types(fresh_client, since) == ["customer.subscription.deleted"]


def test_cancel_at_set_by_update_in_a_later_period_renews_until_then(
    fresh_client: stripe.StripeClient,
    control: EmulatorControl,
    buyer: stripe.Customer,
    price: stripe.Price,
) -> None:
    sub = fresh_client.v1.subscriptions.create(
        params={"customer": buyer.id, "items": [{"price": price.id}]}
    )
    period_end = sub["items"].data[0].current_period_end
    cancel_at = period_end + days(5)
    since = _newest_event(fresh_client)

    updated = fresh_client.v1.subscriptions.update(sub.id, params={"cancel_at": cancel_at})
    control.advance_clock(cancel_at - control.now() + 1)

    assert updated.cancel_at == cancel_at
    ended = fresh_client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", cancel_at)
    assert _event_types(fresh_client, since) == [
        "customer.subscription.updated",  # the update that set cancel_at
        "customer.subscription.updated",  # the renewal at the period's end
        "invoice.created",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.deleted",
    ]


def test_clearing_cancel_at_keeps_the_subscription(
    fresh_client: stripe.StripeClient,
    control: EmulatorControl,
    buyer: stripe.Customer,
    price: stripe.Price,
) -> None:
    cancel_at = control.now() + days(3)
    sub = fresh_client.v1.subscriptions.create(
        params={"customer": buyer.id, "items": [{"price": price.id}], "cancel_at": cancel_at}
    )

    cleared = fresh_client.v1.subscriptions.update(sub.id, params={"cancel_at": ""})
    control.advance_clock(days(4))

    assert (cleared.cancel_at, cleared.canceled_at) == (None, None)
    assert fresh_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_cancel_at_period_end_takes_effect_when_the_period_ends(
    fresh_client: stripe.StripeClient,
    control: EmulatorControl,
    buyer: stripe.Customer,
    price: stripe.Price,
) -> None:
    sub = fresh_client.v1.subscriptions.create(
        params={"customer": buyer.id, "items": [{"price": price.id}], "cancel_at_period_end": True}
    )
    period_end = sub["items"].data[0].current_period_end

    control.advance_clock(period_end - control.now() + 1)

    assert (sub.cancel_at_period_end, sub.cancel_at) == (True, period_end)
    ended = fresh_client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", period_end)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"cancel_at": 1_000_000}, "cancel_at"),
        ({"cancel_at": 4_000_000_000, "cancel_at_period_end": True}, "cancel_at"),
    ],
)
def test_cancel_at_must_be_in_the_future_and_alone(
    fresh_client: stripe.StripeClient,
    buyer: stripe.Customer,
    price: stripe.Price,
    params: dict[str, object],
    param: str,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        fresh_client.v1.subscriptions.create(
            params=untyped({"customer": buyer.id, "items": [{"price": price.id}], **params})
        )

    assert raised.value.http_status == 400
    assert raised.value.param == param
    assert fresh_client.v1.subscriptions.list(params={"customer": buyer.id}).data == []
