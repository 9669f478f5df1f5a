"""Customers, products and prices, and Stripe's request validation."""

from __future__ import annotations

import pytest
import stripe

from tests.emulator.untyped import untyped

pytestmark = pytest.mark.integration


def test_customer_is_created_and_retrieved(client: stripe.StripeClient, unique: str) -> None:
    created = client.v1.customers.create(
        params={"email": f"{unique}@example.com", "name": "Ada", "metadata": {"account_id": unique}}
    )

    fetched = client.v1.customers.retrieve(created.id)

    assert created.id.startswith("cus_")
    assert fetched.email == f"{unique}@example.com"
    assert fetched.name == "Ada"
    assert fetched.metadata is not None
    assert fetched.metadata["account_id"] == unique
    assert fetched.object == "customer"
    assert fetched.last_response is not None
    assert str(fetched.last_response.request_id).startswith("req_")


def test_customer_update_merges_metadata(client: stripe.StripeClient, unique: str) -> None:
    created = client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})

    updated = client.v1.customers.update(
        created.id, params={"email": f"{unique}@example.com", "metadata": {"b": "", "c": "3"}}
    )

    assert updated.email == f"{unique}@example.com"
    assert updated.metadata is not None
    assert updated.metadata.to_dict() == {"a": "1", "c": "3"}


def test_customers_list_filters_by_email(client: stripe.StripeClient, unique: str) -> None:
    email = f"{unique}@example.com"
    first = client.v1.customers.create(params={"email": email})
    second = client.v1.customers.create(params={"email": email})
    client.v1.customers.create(params={"email": f"other-{unique}@example.com"})

    page = client.v1.customers.list(params={"email": email, "limit": 1})
    rest = client.v1.customers.list(
        params={"email": email, "limit": 1, "starting_after": page.data[0].id}
    )

    assert [c.id for c in page.data] == [second.id]  # newest first
    assert page.has_more is True
    assert [c.id for c in rest.data] == [first.id]
    assert rest.has_more is False


def test_product_and_price_are_created_and_retrieved(
    client: stripe.StripeClient, unique: str
) -> None:
    product = client.v1.products.create(params={"name": "Pro", "id": f"prod_pro_{unique}"})
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "product": product.id,
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
            "lookup_key": f"pro_{unique}",
        }
    )

    fetched = client.v1.prices.retrieve(price.id, params={"expand": ["product"]})

    assert price.id.startswith("price_")
    assert fetched.unit_amount == 1500
    assert fetched.type == "recurring"
    assert fetched.recurring is not None
    assert fetched.recurring.interval == "month"
    assert fetched.recurring.interval_count == 1
    assert isinstance(fetched.product, stripe.Product)
    assert fetched.product.id == f"prod_pro_{unique}"


def test_prices_list_filters_by_lookup_keys(
    client: stripe.StripeClient, monthly_price: stripe.Price, yearly_price: stripe.Price
) -> None:
    assert monthly_price.lookup_key is not None
    assert yearly_price.lookup_key is not None

    found = client.v1.prices.list(params={"lookup_keys": [monthly_price.lookup_key]})
    both = client.v1.prices.list(
        params={"lookup_keys": [monthly_price.lookup_key, yearly_price.lookup_key]}
    )

    assert [p.id for p in found.data] == [monthly_price.id]
    assert {p.id for p in both.data} == {monthly_price.id, yearly_price.id}


def test_lookup_key_is_unique_unless_transferred(
    client: stripe.StripeClient, monthly_price: stripe.Price
) -> None:
    params: stripe.params.PriceCreateParams = {
        "currency": "usd",
        "product": str(monthly_price.product),
        "unit_amount": 2000,
        "recurring": {"interval": "month"},
        "lookup_key": str(monthly_price.lookup_key),
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.prices.create(params=params)

    moved = client.v1.prices.create(params={**params, "transfer_lookup_key": True})

    assert refused.value.param == "lookup_key"
    assert moved.lookup_key == monthly_price.lookup_key
    assert client.v1.prices.retrieve(monthly_price.id).lookup_key is None


def test_unknown_parameter_is_rejected(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params=untyped({"emial": "typo@example.com"}))

    assert raised.value.http_status == 400
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "emial"
    assert "Received unknown parameter: emial" in str(raised.value.user_message)


def test_unknown_nested_parameter_names_its_full_path(
    client: stripe.StripeClient, monthly_price: stripe.Price
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(
            params=untyped(
                {
                    "mode": "subscription",
                    "success_url": "https://example.com/s",
                    "line_items": [{"price": monthly_price.id, "quantity": 1, "colour": "red"}],
                }
            )
        )

    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "line_items[0][colour]"


def test_missing_required_parameter_is_rejected(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.prices.create(params=untyped({"product_data": {"name": "X"}, "unit_amount": 5}))

    assert raised.value.code == "parameter_missing"
    assert raised.value.param == "currency"


def test_empty_required_parameter_is_rejected(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.products.create(params={"name": ""})

    assert raised.value.code == "parameter_invalid_empty"
    assert raised.value.param == "name"


def test_unknown_id_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_doesnotexist")

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "id"
    assert raised.value.user_message == "No such customer: 'cus_doesnotexist'"


def test_missing_api_key_is_an_authentication_error(emulator_url: str) -> None:
    anonymous = stripe.StripeClient("", base_addresses={"api": emulator_url})

    with pytest.raises(stripe.AuthenticationError) as raised:
        anonymous.v1.customers.list()

    assert raised.value.http_status == 401  # answered by the emulator, not the library
    body = raised.value.json_body
    assert isinstance(body, dict)
    assert body["error"]["type"] == "invalid_request_error"


def test_malformed_api_key_is_an_authentication_error(emulator_url: str) -> None:
    wrong = stripe.StripeClient("pk_test_publishable", base_addresses={"api": emulator_url})

    with pytest.raises(stripe.AuthenticationError):
        wrong.v1.customers.list()


def test_unrecognized_url_is_a_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.raw_request("get", "/v1/nonexistent_things")

    assert raised.value.http_status == 404
    assert "Unrecognized request URL (GET: /v1/nonexistent_things)" in str(
        raised.value.user_message
    )
