"""The event log, and webhook endpoint configuration."""

from __future__ import annotations

import pytest
import stripe

from tests.emulator.untyped import untyped

pytestmark = pytest.mark.integration


def test_events_page_newest_first_with_cursors(client: stripe.StripeClient, unique: str) -> None:
    created = [
        client.v1.customers.create(params={"email": f"{n}-{unique}@example.com"}) for n in range(3)
    ]
    newest = client.v1.events.list(params={"type": "customer.created", "limit": 2})

    older = client.v1.events.list(
        params={"type": "customer.created", "limit": 2, "starting_after": newest.data[-1].id}
    )

    assert [e.data.object["id"] for e in newest.data] == [created[2].id, created[1].id]
    assert newest.has_more is True
    assert older.data[0].data.object["id"] == created[0].id
    assert all(e.type == "customer.created" for e in older.data)


def test_events_filter_by_several_types(
    client: stripe.StripeClient, monthly_price: stripe.Price
) -> None:
    listed = client.v1.events.list(
        params={"types": ["price.created", "product.created"], "limit": 2}
    )

    assert [e.type for e in listed.data] == ["price.created", "product.created"]
    assert listed.data[0].data.object["id"] == monthly_price.id


def test_event_is_retrieved_with_request_details(client: stripe.StripeClient, unique: str) -> None:
    created = client.v1.customers.create(
        params={"email": f"{unique}@example.com"}, options={"idempotency_key": f"evt-{unique}"}
    )
    listed = client.v1.events.list(params={"type": "customer.created", "limit": 1})

    event = client.v1.events.retrieve(listed.data[0].id)

    assert event.id.startswith("evt_")
    assert event.data.object["id"] == created.id
    assert event.livemode is False
    assert event.request is not None
    assert event.request.idempotency_key == f"evt-{unique}"
    assert created.last_response is not None
    assert event.request.id == created.last_response.request_id


def test_update_events_carry_previous_attributes(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    client.v1.customers.update(customer.id, params={"name": "Grace"})

    event = client.v1.events.list(params={"type": "customer.updated", "limit": 1}).data[0]

    assert event.data.object["name"] == "Grace"
    assert event.data.previous_attributes is not None
    assert event.data.previous_attributes.to_dict() == {"name": None}


def test_events_created_range_filter(client: stripe.StripeClient) -> None:
    newest = client.v1.events.list(params={"limit": 1}).data[0]

    later = client.v1.events.list(params={"created": {"gt": newest.created}})

    assert all(e.created > newest.created for e in later.data)


def test_webhook_endpoint_lifecycle(client: stripe.StripeClient, unique: str) -> None:
    url = f"https://example.com/hooks/{unique}"
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": ["customer.subscription.updated", "invoice.paid"]}
    )

    fetched = client.v1.webhook_endpoints.retrieve(endpoint.id)
    disabled = client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    deleted = client.v1.webhook_endpoints.delete(endpoint.id)

    assert endpoint.id.startswith("we_")
    assert endpoint.secret is not None
    assert endpoint.secret.startswith("whsec_")
    assert "secret" not in fetched
    assert fetched.url == url
    assert disabled.status == "disabled"
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.webhook_endpoints.retrieve(endpoint.id)


def test_webhook_endpoint_requires_enabled_events(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.create(params=untyped({"url": "https://example.com/h"}))

    assert (raised.value.code, raised.value.param) == ("parameter_missing", "enabled_events")
