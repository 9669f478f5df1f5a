"""The pages a person clicks through, driven over HTTP as a browser posts
their forms: checkout with Stripe's test cards, the billing portal, and the
page that moves time forward."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from stripe_emulator.dunning import FAILING_PAYMENT_METHODS
from stripe_emulator.pages.cards import read_card
from stripe_emulator.periods import days
from stripe_emulator.testing import EmulatorControl, RunningEmulator

pytestmark = pytest.mark.integration

OK_CARD = "4242 4242 4242 4242"
FAILS_LATER = "4000 0000 0000 0341"
DECLINED = "4000 0000 0000 9995"


@pytest.fixture
def browser(emulator_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator_url, timeout=10, follow_redirects=False) as http:
        yield http


def open_session(
    client: stripe.StripeClient,
    customer: stripe.Customer,
    price: stripe.Price,
    cancel_url: str = "https://app.example/cancel",
) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://app.example/done?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": cancel_url,
        }
    )


def path_of(url: str | None) -> str:
    assert url is not None
    return httpx.URL(url).path


def test_the_checkout_page_shows_the_plan_price_and_cancel_link(
    client: stripe.StripeClient,
    browser: httpx.Client,
    customer: stripe.Customer,
    monthly_price: stripe.Price,
    unique: str,
) -> None:
    session = open_session(client, customer, monthly_price)

    shown = browser.get(path_of(session.url))

    assert shown.status_code == 200
    assert shown.headers["content-type"].startswith("text/html")
    assert f"Pro {unique}" in shown.text
    assert "10.00 USD / month" in shown.text
    assert 'href="https://app.example/cancel"' in shown.text
    assert 'name="card_number"' in shown.text


def test_paying_with_4242_completes_the_session_and_redirects_with_its_id(
    client: stripe.StripeClient,
    browser: httpx.Client,
    customer: stripe.Customer,
    monthly_price: stripe.Price,
) -> None:
    session = open_session(client, customer, monthly_price)

    paid = browser.post(path_of(session.url), data={"card_number": OK_CARD})

    assert paid.status_code == 303
    assert paid.headers["location"] == f"https://app.example/done?session_id={session.id}"
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete"
    assert done.payment_status == "paid"
    assert isinstance(done.subscription, str)
    sub = client.v1.subscriptions.retrieve(done.subscription)
    assert sub.status == "active"
    assert sub.default_payment_method == "pm_card_visa"
    events = client.v1.events.list(params={"limit": 20}).data
    assert any(
        e.type == "checkout.session.completed" and e.data.object["id"] == session.id for e in events
    )
    again = browser.get(path_of(session.url))
    assert again.status_code == 410
    assert "already paid" in again.text


def test_a_declined_card_shows_the_decline_and_the_session_stays_open(
    client: stripe.StripeClient,
    browser: httpx.Client,
    customer: stripe.Customer,
    monthly_price: stripe.Price,
) -> None:
    session = open_session(client, customer, monthly_price)

    declined = browser.post(path_of(session.url), data={"card_number": DECLINED})

    assert declined.status_code == 402
    assert "Your card has insufficient funds." in declined.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    unknown = browser.post(path_of(session.url), data={"card_number": "1234"})
    assert unknown.status_code == 402
    assert "test card" in unknown.text


def test_the_card_that_fails_later_is_one_renewals_fail_with() -> None:
    assert read_card(FAILS_LATER).payment_method in FAILING_PAYMENT_METHODS
    assert read_card(OK_CARD).payment_method not in FAILING_PAYMENT_METHODS


def test_a_card_that_fails_at_renewal_pays_now_and_fails_on_the_test_clock(
    client: stripe.StripeClient, browser: httpx.Client, monthly_price: stripe.Price
) -> None:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_798_761_600})
    buyer = client.v1.customers.create(params={"test_clock": clock.id})
    session = open_session(client, buyer, monthly_price)

    assert browser.post(path_of(session.url), data={"card_number": FAILS_LATER}).status_code == 303
    sub_id = client.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(sub_id, str)
    assert client.v1.subscriptions.retrieve(sub_id).status == "active"

    client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": 1_798_761_600 + days(32)}
    )

    assert client.v1.subscriptions.retrieve(sub_id).status == "past_due"
    client.v1.test_helpers.test_clocks.delete(clock.id)


def test_expired_and_unknown_sessions_get_clear_pages(
    client: stripe.StripeClient,
    browser: httpx.Client,
    customer: stripe.Customer,
    monthly_price: stripe.Price,
) -> None:
    session = open_session(client, customer, monthly_price)
    client.v1.checkout.sessions.expire(session.id)

    expired = browser.get(path_of(session.url))
    paid = browser.post(path_of(session.url), data={"card_number": OK_CARD})

    assert expired.status_code == 410
    assert "expired" in expired.text
    assert paid.status_code == 410
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert browser.get("/checkout/pay/cs_test_nosuchsession").status_code == 404


def test_stored_values_reach_the_pages_escaped(
    client: stripe.StripeClient, browser: httpx.Client, customer: stripe.Customer
) -> None:
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": "<script>alert(1)</script>"},
            "unit_amount": 700,
            "recurring": {"interval": "month"},
        }
    )
    session = open_session(client, customer, price, cancel_url="javascript:alert(1)")

    shown = browser.get(path_of(session.url)).text

    assert "<script>alert(1)</script>" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "javascript:" not in shown


@pytest.fixture
def portal(
    client: stripe.StripeClient, subscription: stripe.Subscription, customer: stripe.Customer
) -> str:
    """The path of a portal session for `subscription`'s customer."""
    session = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://app.example/account"}
    )
    return path_of(session.url)


def test_the_portal_page_shows_the_plan_and_a_way_back(
    browser: httpx.Client, portal: str, subscription: stripe.Subscription, unique: str
) -> None:
    shown = browser.get(portal)

    assert shown.status_code == 200
    assert f"Pro {unique}" in shown.text
    assert subscription.id in shown.text
    assert 'href="https://app.example/account"' in shown.text
    assert browser.get("/billing_portal/session/bps_nosuchsession").status_code == 404


def test_cancel_and_resume_in_the_portal_change_the_subscription(
    client: stripe.StripeClient,
    browser: httpx.Client,
    portal: str,
    subscription: stripe.Subscription,
) -> None:
    form = {"subscription": subscription.id}

    canceled = browser.post(f"{portal}/cancel", data=form)

    assert canceled.status_code == 303
    assert canceled.headers["location"] == portal
    assert client.v1.subscriptions.retrieve(subscription.id).cancel_at_period_end is True
    assert "Cancels on" in browser.get(portal).text
    updated = client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.object["id"] == subscription.id

    assert browser.post(f"{portal}/resume", data=form).status_code == 303
    assert client.v1.subscriptions.retrieve(subscription.id).cancel_at_period_end is False


def test_switching_plans_and_cards_in_the_portal(
    client: stripe.StripeClient,
    browser: httpx.Client,
    portal: str,
    subscription: stripe.Subscription,
    yearly_price: stripe.Price,
) -> None:
    assert yearly_price.id in browser.get(portal).text

    switched = browser.post(
        f"{portal}/switch", data={"subscription": subscription.id, "price": yearly_price.id}
    )
    declined = browser.post(
        f"{portal}/card", data={"subscription": subscription.id, "card_number": DECLINED}
    )
    carded = browser.post(
        f"{portal}/card", data={"subscription": subscription.id, "card_number": FAILS_LATER}
    )

    assert switched.status_code == 303
    assert declined.status_code == 402
    assert "insufficient funds" in declined.text
    assert carded.status_code == 303
    sub = client.v1.subscriptions.retrieve(subscription.id)
    assert sub["items"].data[0].price.id == yearly_price.id
    assert sub.default_payment_method == "pm_card_chargeCustomerFail"
    unlisted = browser.post(
        f"{portal}/switch", data={"subscription": subscription.id, "price": "price_nope"}
    )
    assert unlisted.status_code == 400


def test_the_portal_acts_only_on_its_own_customers_subscriptions(
    client: stripe.StripeClient,
    control: EmulatorControl,
    browser: httpx.Client,
    monthly_price: stripe.Price,
    subscription: stripe.Subscription,
) -> None:
    stranger = client.v1.customers.create()
    other = client.v1.billing_portal.sessions.create(params={"customer": stranger.id})

    refused = browser.post(f"{path_of(other.url)}/cancel", data={"subscription": subscription.id})

    assert refused.status_code == 404
    assert client.v1.subscriptions.retrieve(subscription.id).cancel_at_period_end is False
    assert "No current subscription" in browser.get(path_of(other.url)).text


def test_the_clock_page_advances_the_emulator_and_test_clocks(
    fresh: RunningEmulator, fresh_client: stripe.StripeClient
) -> None:
    clock = fresh_client.v1.test_helpers.test_clocks.create(
        params={"frozen_time": 1_798_761_600, "name": "pages"}
    )
    before = fresh.control.now()
    with httpx.Client(base_url=fresh.url, timeout=10) as http:
        assert "Test clock pages" in http.get("/clock").text

        moved = http.post("/clock/advance", data={"days": "31"})
        ticked = http.post("/clock/advance", data={"days": "2", "test_clock": clock.id})
        refused = http.post("/clock/advance", data={"days": "-1"})

    assert moved.status_code == ticked.status_code == 303
    assert moved.headers["location"] == "/clock"
    assert fresh.control.now() >= before + days(31)
    frozen = fresh_client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time
    assert frozen == 1_798_761_600 + days(2)
    assert refused.status_code == 400
    assert "whole number" in refused.text
