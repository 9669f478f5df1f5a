"""Test clocks, driven through the stripe library's own `TestClock` resource:
advancing one plays out renewals, trial ends, scheduled cancellations and
dunning for the customers on it, at the clock's time."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.periods import add_intervals, days
from stripe_emulator.testing import EmulatorControl, EmulatorControlError, RunningEmulator
from tests.emulator.untyped import untyped

pytestmark = pytest.mark.integration

START = 1_798_761_600  # 2027-01-01T00:00:00Z
FAILING_CARD = "pm_card_chargeCustomerFail"


@pytest.fixture
def client(fresh_client: stripe.StripeClient) -> stripe.StripeClient:
    return fresh_client


@pytest.fixture
def control(fresh: RunningEmulator) -> EmulatorControl:
    return fresh.control


@pytest.fixture
def clock(client: stripe.StripeClient) -> stripe.test_helpers.TestClock:
    return client.v1.test_helpers.test_clocks.create(
        params={"frozen_time": START, "name": "renewals"}
    )


@pytest.fixture
def price(client: stripe.StripeClient) -> stripe.Price:
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": "Pro"},
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }
    )


class Timeline:
    """Advances a clock and reads back the events it produced, oldest first."""

    def __init__(self, client: stripe.StripeClient, clock: stripe.test_helpers.TestClock) -> None:
        self.client = client
        self.clock = clock
        self._since = self._newest()

    def _newest(self) -> str:
        return self.client.v1.events.list(params={"limit": 1}).data[0].id

    def advance_to(self, frozen_time: int) -> list[stripe.Event]:
        self.client.v1.test_helpers.test_clocks.advance(
            self.clock.id, params={"frozen_time": frozen_time}
        )
        return self.events()

    def events(self) -> list[stripe.Event]:
        page = self.client.v1.events.list(params={"ending_before": self._since, "limit": 100})
        self._since = self._newest()
        return list(reversed(page.data))


def _types(events: list[stripe.Event]) -> list[str]:
    return [e.type for e in events if not e.type.startswith("test_helpers.")]


def _subscribe(
    client: stripe.StripeClient,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    *,
    card: str = "pm_card_visa",
    **extra: object,
) -> stripe.Subscription:
    buyer = client.v1.customers.create(
        params={
            "email": "clock@example.com",
            "test_clock": clock.id,
            "invoice_settings": {"default_payment_method": card},
        }
    )
    # `extra`: trial_period_days, cancel_at, ... as the API takes them.
    params = {"customer": buyer.id, "items": [{"price": price.id}], **extra}
    return client.v1.subscriptions.create(params=untyped(params))


@pytest.fixture
def timeline(client: stripe.StripeClient, clock: stripe.test_helpers.TestClock) -> Timeline:
    return Timeline(client, clock)


def test_a_clock_is_created_listed_advanced_and_deleted(
    client: stripe.StripeClient, price: stripe.Price
) -> None:
    clocks = client.v1.test_helpers.test_clocks
    clock = clocks.create(params={"frozen_time": START, "name": "lifecycle"})
    sub = _subscribe(client, clock, price)

    advancing = clocks.advance(clock.id, params={"frozen_time": START + 3600})
    ready = clocks.retrieve(clock.id)
    listed = clocks.list()
    gone = clocks.delete(clock.id)

    assert clock.id.startswith("clock_")
    assert (clock.status, clock.frozen_time, clock.name) == ("ready", START, "lifecycle")
    assert clock.deletes_after == clock.created + days(30)
    # As from Stripe, the answer to advance still says "advancing".
    assert advancing.status == "advancing"
    assert advancing.status_details.advancing is not None
    assert advancing.status_details.advancing.target_frozen_time == START + 3600
    assert (ready.status, ready.frozen_time) == ("ready", START + 3600)
    assert [c.id for c in listed.data] == [clock.id]
    assert gone.deleted is True
    # Deleting a clock deletes its customers and their subscriptions.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.retrieve(sub.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.retrieve(str(sub.customer))


def test_objects_on_a_clock_live_at_its_time(
    client: stripe.StripeClient, clock: stripe.test_helpers.TestClock, price: stripe.Price
) -> None:
    sub = _subscribe(client, clock, price)

    customer = client.v1.customers.retrieve(str(sub.customer))
    assert customer.test_clock == clock.id
    assert sub.test_clock == clock.id
    assert (sub.created, sub.start_date) == (START, START)
    item = sub["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (
        START,
        add_intervals(START, "month", 1),
    )
    assert isinstance(sub.latest_invoice, str)
    assert client.v1.invoices.retrieve(sub.latest_invoice).test_clock == clock.id


def test_a_renewal_moves_the_period_and_pays_its_invoice(
    client: stripe.StripeClient,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    timeline: Timeline,
) -> None:
    sub = _subscribe(client, clock, price)
    period_end = sub["items"].data[0].current_period_end
    timeline.events()

    events = timeline.advance_to(period_end + days(1))

    assert [e.type for e in events] == [
        "test_helpers.test_clock.advancing",
        "customer.subscription.updated",
        "invoice.created",
        "invoice.paid",
        "invoice.payment_succeeded",
        "test_helpers.test_clock.ready",
    ]
    # Each happening carries the clock's time at which it happened.
    assert {e.created for e in events[1:-1]} == {period_end}
    renewed = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    item = renewed["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (
        period_end,
        add_intervals(START, "month", 2),
    )
    invoice = renewed.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.billing_reason, invoice.amount_paid) == (
        "paid",
        "subscription_cycle",
        1000,
    )


def test_several_periods_at_once_renew_once_each(
    client: stripe.StripeClient,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    timeline: Timeline,
) -> None:
    _subscribe(client, clock, price)
    timeline.events()

    events = timeline.advance_to(add_intervals(START, "month", 3) + 60)

    assert _types(events).count("invoice.paid") == 3


@pytest.mark.parametrize("final_status", ["canceled", "unpaid"])
def test_a_failed_renewal_is_retried_then_dunning_ends(
    client: stripe.StripeClient,
    control: EmulatorControl,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    timeline: Timeline,
    final_status: str,
) -> None:
    control.set_dunning(final_status)
    sub = _subscribe(client, clock, price, card=FAILING_CARD)
    period_end = sub["items"].data[0].current_period_end
    timeline.events()

    failed = _types(timeline.advance_to(period_end + 60))
    past_due = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    retried = _types(timeline.advance_to(period_end + days(3) + 60))
    ended = _types(timeline.advance_to(period_end + days(7) + 60))

    assert failed == ["invoice.created", "invoice.payment_failed", "customer.subscription.updated"]
    assert past_due.status == "past_due"
    invoice = past_due.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert invoice.next_payment_attempt == period_end + days(3)
    assert retried == ["invoice.payment_failed"]
    # The retries on day 5 and day 7 fail too, and the last one ends dunning.
    final = client.v1.subscriptions.retrieve(sub.id)
    assert final.status == final_status
    if final_status == "canceled":
        assert ended == ["invoice.payment_failed"] * 2 + ["customer.subscription.deleted"]
        assert final.cancellation_details is not None
        assert final.cancellation_details.reason == "payment_failed"
    else:
        assert ended == ["invoice.payment_failed"] * 2 + ["customer.subscription.updated"]
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 4


def test_a_retry_after_the_card_is_changed_pays_and_reactivates(
    client: stripe.StripeClient,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    timeline: Timeline,
) -> None:
    sub = _subscribe(client, clock, price, card=FAILING_CARD)
    period_end = sub["items"].data[0].current_period_end
    timeline.advance_to(period_end + 60)

    client.v1.customers.update(
        str(sub.customer), params={"invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    events = _types(timeline.advance_to(period_end + days(3) + 60))

    assert events == [
        "customer.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_a_trial_warns_then_ends_with_the_first_paid_invoice(
    client: stripe.StripeClient,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    timeline: Timeline,
) -> None:
    sub = _subscribe(client, clock, price, trial_period_days=14)
    timeline.events()

    warned = _types(timeline.advance_to(START + days(12)))
    ended = _types(timeline.advance_to(START + days(14) + 60))

    assert (sub.status, sub.trial_end) == ("trialing", START + days(14))
    assert warned == ["customer.subscription.trial_will_end"]
    assert ended == [
        "customer.subscription.updated",
        "invoice.created",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    active = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert active.status == "active"
    assert active["items"].data[0].current_period_start == START + days(14)
    assert isinstance(active.latest_invoice, stripe.Invoice)
    assert active.latest_invoice.amount_paid == 1000


def test_a_trial_that_ends_with_a_failing_card_goes_past_due(
    client: stripe.StripeClient,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    timeline: Timeline,
) -> None:
    sub = _subscribe(client, clock, price, card=FAILING_CARD, trial_period_days=7)

    events = _types(timeline.advance_to(START + days(7) + 60))

    assert events[-2:] == ["invoice.payment_failed", "customer.subscription.updated"]
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"


def test_cancel_at_takes_effect_at_its_time_on_the_clock(
    client: stripe.StripeClient,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    timeline: Timeline,
) -> None:
    sub = _subscribe(client, clock, price, cancel_at=START + days(10))
    timeline.events()

    events = _types(timeline.advance_to(START + days(11)))

    assert events == ["customer.subscription.deleted"]
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", START + days(10))


def test_cancel_at_period_end_takes_effect_at_the_period_end(
    client: stripe.StripeClient,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
    timeline: Timeline,
) -> None:
    sub = _subscribe(client, clock, price)
    period_end = sub["items"].data[0].current_period_end
    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    timeline.events()

    events = _types(timeline.advance_to(period_end + days(1)))

    assert events == ["customer.subscription.deleted"]
    assert client.v1.subscriptions.retrieve(sub.id).ended_at == period_end


def test_a_clock_moves_only_its_own_subscriptions(
    client: stripe.StripeClient,
    control: EmulatorControl,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
) -> None:
    on_clock = _subscribe(client, clock, price)
    other = client.v1.customers.create(params={"email": "no-clock@example.com"})
    off_clock = client.v1.subscriptions.create(
        params={"customer": other.id, "items": [{"price": price.id}]}
    )

    client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": add_intervals(START, "month", 1) + 60}
    )
    control.advance_clock(days(40))

    assert client.v1.subscriptions.retrieve(on_clock.id)["items"].data[0].current_period_start == (
        add_intervals(START, "month", 1)
    )
    moved = client.v1.subscriptions.retrieve(off_clock.id)["items"].data[0]
    assert moved.current_period_start == off_clock["items"].data[0].current_period_end


def test_a_clock_only_moves_forwards(
    client: stripe.StripeClient, clock: stripe.test_helpers.TestClock
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": START})

    assert (raised.value.http_status, raised.value.param) == (400, "frozen_time")
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == START


def test_a_customer_without_subscriptions_can_be_put_on_a_clock(
    client: stripe.StripeClient,
    control: EmulatorControl,
    clock: stripe.test_helpers.TestClock,
    price: stripe.Price,
) -> None:
    made_by_a_service = client.v1.customers.create(params={"email": "svc@example.com"})
    subscribed = client.v1.customers.create(params={"email": "busy@example.com"})
    client.v1.subscriptions.create(
        params={"customer": subscribed.id, "items": [{"price": price.id}]}
    )

    attached = control.attach_to_test_clock(made_by_a_service.id, clock.id)
    sub = client.v1.subscriptions.create(
        params={"customer": made_by_a_service.id, "items": [{"price": price.id}]}
    )

    assert attached["test_clock"] == clock.id
    assert (sub.test_clock, sub.created) == (clock.id, START)
    with pytest.raises(EmulatorControlError) as refused:
        control.attach_to_test_clock(subscribed.id, clock.id)
    assert refused.value.status == 400
    assert client.v1.customers.retrieve(subscribed.id).test_clock is None
