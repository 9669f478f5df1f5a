"""Every object the emulator answers with, held against the `stripe` library's
declarations for the API version it pins (see `stripe_shapes`).

The walk drives the emulator over HTTP through the real library, the way the
billing service and the other tests do (checkouts, direct subscriptions,
plan changes, renewals that succeed and fail, cancellations, the portal,
webhook endpoints, lists and expansions), and records every 2xx body as it
came off the wire. Events are read back from /v1/events, so every object
snapshot they carry is checked too.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from stripe_emulator.testing import EmulatorControl, run_emulator
from tests.emulator.conftest import API_KEY
from tests.emulator.stripe_shapes import Finding, check

pytestmark = pytest.mark.integration

# The object types the service and the tests meet, each of which the walk
# must have seen at least once, at the top of an answer or nested in one.
SERVED_TYPES = {
    "billing_portal.session",
    "checkout.session",
    "customer",
    "event",
    "invoice",
    "item",
    "line_item",
    "plan",
    "price",
    "product",
    "subscription",
    "subscription_item",
    "test_helpers.test_clock",
    "webhook_endpoint",
}


@dataclass(frozen=True)
class Answer:
    method: str
    url: str
    body: dict[str, Any]


class RecordingClient(stripe.RequestsClient):
    """The library's own HTTP client, keeping each successful answer's body."""

    def __init__(self) -> None:
        super().__init__(timeout=10)
        self.answers: list[Answer] = []

    # The library declares `request` differently on HTTPClient and on
    # RequestsClient; this matches RequestsClient, which it extends.
    def request(  # type: ignore[override]
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        content, status, response_headers = super().request(method, url, headers, post_data)
        if 200 <= status < 300:
            self.answers.append(Answer(method.upper(), url, json.loads(content)))
        return content, status, response_headers


@pytest.fixture(scope="module")
def answers() -> Iterator[list[Answer]]:
    recorder = RecordingClient()
    with run_emulator() as emulator:
        client = stripe.StripeClient(
            API_KEY,
            base_addresses={"api": emulator.url},
            http_client=recorder,
            max_network_retries=0,
        )
        _walk(client, emulator.control)
        yield recorder.answers


def _walk(client: stripe.StripeClient, control: EmulatorControl) -> None:
    """A tour of everything the emulator serves, in the states the service meets."""
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "https://example.com/hooks", "enabled_events": ["*"]}
    )
    client.v1.webhook_endpoints.update(endpoint.id, params={"description": "tour"})
    client.v1.webhook_endpoints.list()

    product = client.v1.products.create(params={"name": "Pro", "metadata": {"plan": "pro"}})
    client.v1.products.update(product.id, params={"description": "The pro plan"})
    monthly = client.v1.prices.create(
        params={
            "currency": "usd",
            "product": product.id,
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
            "nickname": "Pro monthly",
        }
    )
    premium = client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": "Enterprise"},
            "unit_amount": 5000,
            "recurring": {"interval": "month"},
        }
    )
    yearly = client.v1.prices.create(
        params={
            "currency": "usd",
            "product": product.id,
            "unit_amount": 10000,
            "recurring": {"interval": "year"},
        }
    )
    one_time = client.v1.prices.create(
        params={"currency": "usd", "product": product.id, "unit_amount": 500}
    )
    client.v1.prices.update(premium.id, params={"metadata": {"tier": "top"}})
    client.v1.prices.list(params={"lookup_keys": ["pro_monthly"], "expand": ["data.product"]})
    client.v1.products.list()

    buyer = client.v1.customers.create(
        params={"email": "tour@example.com", "metadata": {"account_id": "acct_tour"}}
    )
    client.v1.customers.update(buyer.id, params={"name": "Tour Buyer"})
    client.v1.customers.list(params={"email": "tour@example.com"})

    # A checkout paid at once, then changed, renewed and canceled.
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": buyer.id,
            "line_items": [{"price": monthly.id, "quantity": 1}],
            "success_url": "https://example.com/success",
            "cancel_url": "https://example.com/cancel",
            "client_reference_id": "acct_tour",
            "metadata": {"account_id": "acct_tour"},
            "subscription_data": {"metadata": {"account_id": "acct_tour"}},
        }
    )
    client.v1.checkout.sessions.line_items.list(session.id)
    control.complete_checkout(session.id)
    paid = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["subscription.latest_invoice"]}
    )
    assert isinstance(paid.subscription, stripe.Subscription)
    sub_id = paid.subscription.id
    item_id = paid.subscription["items"].data[0].id
    client.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": item_id, "price": premium.id}],
            "proration_behavior": "always_invoice",
        },
    )
    client.v1.subscriptions.update(sub_id, params={"items": [{"id": item_id, "quantity": 2}]})
    client.v1.subscriptions.update(sub_id, params={"items": [{"id": item_id, "price": yearly.id}]})
    control.renew_subscription(sub_id)
    control.renew_subscription(sub_id, "failed")
    control.update_subscription(sub_id, status="unpaid")
    control.update_subscription(sub_id, status="active")
    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    client.v1.billing_portal.sessions.create(
        params={"customer": buyer.id, "return_url": "https://example.com/account"}
    )
    client.v1.subscriptions.cancel(
        sub_id, params={"cancellation_details": {"comment": "tour", "feedback": "other"}}
    )
    client.v1.subscriptions.update(sub_id, params={"metadata": {"after": "cancel"}})

    # A trial through checkout with only an email (the customer is created on payment).
    trial = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer_email": "trial@example.com",
            "line_items": [{"price": monthly.id, "quantity": 1}],
            "success_url": "https://example.com/success",
            "subscription_data": {"trial_period_days": 14},
        }
    )
    control.complete_checkout(trial.id)
    client.v1.checkout.sessions.retrieve(trial.id)

    # A subscription created directly, with a trial, that ends at period end.
    direct = client.v1.subscriptions.create(
        params={"customer": buyer.id, "items": [{"price": monthly.id}], "trial_period_days": 7}
    )
    client.v1.subscriptions.update(direct.id, params={"cancel_at_period_end": True})
    control.renew_subscription(direct.id)

    # Sessions that are never paid: a setup session, an expired one, a payment one.
    client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "customer": buyer.id,
            "currency": "usd",
            "success_url": "https://example.com/success",
        }
    )
    expiring = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": buyer.id,
            "line_items": [{"price": monthly.id, "quantity": 1}],
            "success_url": "https://example.com/success",
        }
    )
    client.v1.checkout.sessions.expire(expiring.id)
    client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": buyer.id,
            "line_items": [{"price": one_time.id, "quantity": 1}],
            "success_url": "https://example.com/success",
        }
    )
    client.v1.checkout.sessions.list(params={"customer": buyer.id})

    # A test clock: a trial that ends, a renewal that fails and is dunned to
    # the end, and a cancellation scheduled for a date.
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_798_761_600})
    on_clock = client.v1.customers.create(
        params={
            "test_clock": clock.id,
            "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"},
        }
    )
    client.v1.subscriptions.create(
        params={"customer": on_clock.id, "items": [{"price": monthly.id}], "trial_period_days": 7}
    )
    client.v1.subscriptions.create(
        params={
            "customer": on_clock.id,
            "items": [{"price": monthly.id}],
            "cancel_at": 1_798_761_600 + 20 * 86_400,
        }
    )
    client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": 1_798_761_600 + 60 * 86_400}
    )
    client.v1.test_helpers.test_clocks.retrieve(clock.id)
    client.v1.test_helpers.test_clocks.list()
    client.v1.subscriptions.list(params={"customer": on_clock.id, "status": "all"})

    client.v1.subscriptions.list(params={"status": "all", "expand": ["data.latest_invoice"]})
    invoices = client.v1.invoices.list(params={"customer": buyer.id})
    client.v1.invoices.retrieve(invoices.data[0].id)
    client.v1.customers.retrieve(buyer.id)
    client.v1.webhook_endpoints.delete(endpoint.id)
    client.v1.test_helpers.test_clocks.delete(clock.id)

    page = client.v1.events.list(params={"limit": 100})
    while page.has_more:
        page = client.v1.events.list(params={"limit": 100, "starting_after": page.data[-1].id})
    client.v1.events.retrieve(page.data[0].id)


def _types_seen(node: Any, seen: Counter[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _types_seen(item, seen)
    elif isinstance(node, dict):
        if isinstance(node.get("object"), str):
            seen[node["object"]] += 1
        for value in node.values():
            _types_seen(value, seen)


def test_the_walk_meets_every_type_the_emulator_serves(answers: list[Answer]) -> None:
    seen: Counter[str] = Counter()
    _types_seen([a.body for a in answers], seen)

    assert set(seen) >= SERVED_TYPES, sorted(SERVED_TYPES - set(seen))


def test_every_answer_matches_the_pinned_api_version(answers: list[Answer]) -> None:
    assert stripe.api_version == "2026-10-28.endive"
    findings: Counter[str] = Counter()
    for answer in answers:
        findings.update(_generic(finding) for finding in check(answer.body))

    assert not findings, "\n".join(f"{text} ({n} times)" for text, n in sorted(findings.items()))


def _generic(finding: Finding) -> str:
    """The finding without list positions, so one fault is listed once."""
    path = ".".join(part.split("[", 1)[0] for part in finding.path.split("."))
    return f"{path}: {finding.problem}"


def _first(answers: list[Answer], kind: str) -> dict[str, Any]:
    body = next(a.body for a in answers if a.body.get("object") == kind)
    return copy.deepcopy(body)


def test_the_check_finds_each_kind_of_drift(answers: list[Answer]) -> None:
    sub = _first(answers, "subscription")
    assert check(sub) == []
    sub["plan"] = None  # a field this version removed
    del sub["billing_schedules"]  # always sent
    del sub["presentment_details"]  # optional, but sent as null
    sub["status"] = "expired"  # not an enum value of this version
    sub["created"] = "yesterday"
    sub["customer"] = "acct_123"  # a reference of the wrong type
    sub["items"]["data"][0]["id"] = "item_1"
    sub["items"]["data"][0]["price"]["recurring"]["interval"] = "fortnight"

    found = {str(f) for f in check(sub)}

    assert found == {
        "subscription.plan: is not declared by this API version",
        "subscription.billing_schedules: is missing; this version always sends it",
        "subscription.presentment_details: is missing; Stripe sends it, null if unset",
        "subscription.status: 'expired' is not one of ['active', 'canceled', 'incomplete', "
        "'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid']",
        "subscription.created: expected int, got 'yesterday'",
        "subscription.customer: id 'acct_123' does not start with cus_",
        "subscription_item.id: id 'item_1' does not start with si_",
        "price.recurring.interval: 'fortnight' is not one of ['day', 'month', 'week', 'year']",
    }


def test_the_check_reads_inside_events_and_expansions(answers: list[Answer]) -> None:
    event = _first(answers, "event")
    event["data"]["object"]["object_extra"] = 1
    session = next(a.body for a in answers if isinstance(a.body.get("subscription"), dict))
    session = copy.deepcopy(session)
    session["subscription"]["latest_invoice"]["subscription"] = "sub_123"

    assert [str(f) for f in check(event)] == [
        f"{event['data']['object']['object']}.object_extra: is not declared by this API version"
    ]
    assert [str(f) for f in check(session)] == [
        "invoice.subscription: is not declared by this API version"
    ]
