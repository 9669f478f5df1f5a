"""Idempotency-Key: replay, mismatch, and concurrent reuse."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe

from stripe_emulator.testing import EmulatorControl
from tests.emulator.untyped import untyped

pytestmark = pytest.mark.integration

CREATE_CUSTOMER = "POST /v1/customers"


def test_same_key_and_params_replays_without_creating(
    client: stripe.StripeClient, control: EmulatorControl, unique: str
) -> None:
    email = f"{unique}@example.com"
    options: stripe.RequestOptions = {"idempotency_key": f"create-{unique}"}
    counts_before = control.request_counts()

    first = client.v1.customers.create(params={"email": email}, options=options)
    again = client.v1.customers.create(params={"email": email}, options=options)

    counts_after = control.request_counts()
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert [c.id for c in client.v1.customers.list(params={"email": email}).data] == [first.id]
    received = counts_after["by_route"][CREATE_CUSTOMER] - counts_before["by_route"].get(
        CREATE_CUSTOMER, 0
    )
    replayed = counts_after["replayed"].get(CREATE_CUSTOMER, 0) - counts_before["replayed"].get(
        CREATE_CUSTOMER, 0
    )
    assert (received, replayed) == (2, 1)


def test_same_key_with_other_params_is_an_idempotency_error(
    client: stripe.StripeClient, unique: str
) -> None:
    options: stripe.RequestOptions = {"idempotency_key": f"mismatch-{unique}"}
    client.v1.customers.create(params={"email": f"{unique}@example.com"}, options=options)

    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.customers.create(params={"email": f"other-{unique}@example.com"}, options=options)

    assert raised.value.http_status == 400
    assert "can only be used with the same parameters" in str(raised.value.user_message)


def test_keys_are_scoped_per_api_key(emulator_url: str, unique: str) -> None:
    options: stripe.RequestOptions = {"idempotency_key": f"scoped-{unique}"}
    one = stripe.StripeClient("sk_test_one", base_addresses={"api": emulator_url})
    two = stripe.StripeClient("sk_test_two", base_addresses={"api": emulator_url})

    first = one.v1.customers.create(params={"email": f"{unique}@example.com"}, options=options)
    second = two.v1.customers.create(params={"email": f"{unique}@example.com"}, options=options)

    assert first.id != second.id


def test_validation_failures_are_not_saved_under_the_key(
    client: stripe.StripeClient, unique: str
) -> None:
    options: stripe.RequestOptions = {"idempotency_key": f"fixable-{unique}"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.products.create(params=untyped({"description": "no name"}), options=options)

    fixed = client.v1.products.create(params={"name": "Named"}, options=options)

    assert fixed.name == "Named"


def test_concurrent_requests_with_one_key_create_one_customer(
    emulator_url: str, unique: str
) -> None:
    email = f"{unique}@example.com"
    key = f"account-{unique}"

    def create(_: int) -> str:
        # A client per thread, as separate service workers would have.
        own = stripe.StripeClient("sk_test_concurrent", base_addresses={"api": emulator_url})
        created = own.v1.customers.create(
            params={"email": email, "metadata": {"account_id": unique}},
            options={"idempotency_key": key},
        )
        return created.id

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = set(pool.map(create, range(20)))

    checker = stripe.StripeClient("sk_test_concurrent", base_addresses={"api": emulator_url})
    listed = checker.v1.customers.list(params={"email": email, "limit": 100})
    assert len(ids) == 1
    assert [c.id for c in listed.data] == list(ids)
