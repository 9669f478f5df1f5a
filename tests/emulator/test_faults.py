"""Injected API faults, as the real stripe library experiences them."""

from __future__ import annotations

import threading
import time

import pytest
import stripe
from stripe.params import CustomerCreateParams

from stripe_emulator.testing import EmulatorControlError, RunningEmulator
from tests.emulator.conftest import API_KEY

pytestmark = pytest.mark.integration


def test_error_fault_fails_the_request_and_creates_nothing(
    fresh: RunningEmulator, fresh_client: stripe.StripeClient
) -> None:
    fresh.control.inject_fault("error", routes=["POST /v1/customers"], status=503)
    params: CustomerCreateParams = {"email": "fault@example.com"}

    with pytest.raises(stripe.APIError) as raised:
        fresh_client.v1.customers.create(params, {"idempotency_key": "fault-1"})
    created = fresh_client.v1.customers.create(params, {"idempotency_key": "fault-1"})

    assert raised.value.http_status == 503
    assert [c.id for c in fresh_client.v1.customers.list().data] == [created.id]
    assert len(fresh_client.v1.events.list(params={"type": "customer.created"}).data) == 1
    counts = fresh.control.request_counts()
    assert counts["by_route"]["POST /v1/customers"] == 2
    assert (counts["faulted"], counts["faulted_total"]) == ({"POST /v1/customers": 1}, 1)
    assert fresh.control.faults() == []


def test_rate_limit_fault_raises_rate_limit_error_on_any_route(
    fresh: RunningEmulator, fresh_client: stripe.StripeClient
) -> None:
    fresh.control.inject_fault("rate_limit", count=2)

    with pytest.raises(stripe.RateLimitError) as listing:
        fresh_client.v1.customers.list()
    with pytest.raises(stripe.RateLimitError):
        fresh_client.v1.products.create(params={"name": "Limited"})
    fresh_client.v1.customers.list()

    assert listing.value.http_status == 429
    # The library drops `code` for 429s; the body still carries Stripe's shape.
    assert listing.value.error is not None
    assert (listing.value.error.type, listing.value.error.code) == (
        "invalid_request_error",
        "rate_limit",
    )
    assert fresh_client.v1.products.list().data == []
    assert fresh.control.request_counts()["faulted"] == {
        "GET /v1/customers": 1,
        "POST /v1/products": 1,
    }


def test_fault_without_count_limit_lasts_until_cleared(
    fresh: RunningEmulator, fresh_client: stripe.StripeClient
) -> None:
    fresh.control.inject_fault("error", count=-1)

    for _ in range(3):
        with pytest.raises(stripe.APIError):
            fresh_client.v1.customers.list()
    listed = fresh.control.faults()
    fresh.control.clear_faults()
    fresh_client.v1.customers.list()

    assert [(f["mode"], f["count"]) for f in listed] == [("error", -1)]
    assert fresh.control.request_counts()["faulted_total"] == 3


def test_hang_times_out_the_client_without_blocking_other_requests(
    fresh: RunningEmulator, fresh_client: stripe.StripeClient
) -> None:
    fresh.control.inject_fault("hang", routes=["POST /v1/checkout/sessions"], hang_s=10)
    impatient = stripe.StripeClient(
        API_KEY,
        base_addresses={"api": fresh.url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=1),
    )
    outcome: list[Exception] = []

    def start_checkout() -> None:
        try:
            impatient.v1.checkout.sessions.create(
                params={"mode": "setup", "currency": "usd", "success_url": "https://e.com"}
            )
        except stripe.StripeError as error:
            outcome.append(error)

    started = time.monotonic()
    hanging = threading.Thread(target=start_checkout)
    hanging.start()
    while fresh.control.route_count("POST /v1/checkout/sessions") == 0:
        time.sleep(0.01)
    served_meanwhile = fresh_client.v1.customers.create(params={"email": "meanwhile@e.com"})
    still_hanging = hanging.is_alive()
    hanging.join(timeout=5)

    assert served_meanwhile.id.startswith("cus_")
    assert still_hanging
    assert len(outcome) == 1
    assert isinstance(outcome[0], stripe.APIConnectionError)
    assert time.monotonic() - started < 3
    assert fresh_client.v1.checkout.sessions.list().data == []
    assert fresh.control.request_counts()["faulted"] == {"POST /v1/checkout/sessions": 1}


def test_fault_settings_are_validated(fresh: RunningEmulator) -> None:
    with pytest.raises(EmulatorControlError) as raised:
        fresh.control.inject_fault("error", status=404)

    assert raised.value.body["error"]["param"] == "status"
