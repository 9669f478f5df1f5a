"""Event bodies read at the edge: typed once, hostile ones refused (adapters/stripe_events.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from billing_server.adapters.stripe_events import PINNED_API_VERSION, read_event
from billing_server.domain.errors import InvalidArgument
from billing_server.domain.events import EventKind
from tests import stripe_payloads as stripe

pytestmark = pytest.mark.unit

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def body(event_type: str, obj: dict[str, Any], **envelope: Any) -> bytes:
    data = json.loads(stripe.event(event_type, obj, T0))
    data.update(envelope)
    return json.dumps(data).encode()


def test_a_subscription_event_carries_its_state() -> None:
    obj = stripe.subscription("sub_1", "cus_1", period_start=T0, account_id="acct_1")
    event = read_event(body("customer.subscription.updated", obj))
    assert (event.kind, event.subject_id, event.customer_id) == (
        EventKind.SUBSCRIPTION,
        "sub_1",
        "cus_1",
    )
    assert event.state is not None
    assert event.state.metadata == {"account_id": "acct_1"}
    assert event.api_version == PINNED_API_VERSION


def test_invoices_and_checkouts_name_their_subscription_and_carry_no_state() -> None:
    invoice = read_event(body("invoice.payment_failed", stripe.invoice("sub_2", "cus_2")))
    assert (invoice.subject_id, invoice.state, invoice.ignored) == ("sub_2", None, False)
    session = stripe.checkout_session("cs_test_1", "acct_3", "cus_3", "sub_3")
    checkout = read_event(body("checkout.session.completed", session))
    assert (checkout.subject_id, checkout.account_hint, checkout.customer_id) == (
        "sub_3",
        "acct_3",
        "cus_3",
    )


@pytest.mark.parametrize(
    ("event_type", "obj"),
    [
        ("customer.created", {"id": "cus_1", "object": "customer"}),
        (
            "checkout.session.completed",
            {"id": "cs_1", "object": "checkout.session", "mode": "payment"},
        ),
        ("invoice.payment_succeeded", {"id": "in_1", "object": "invoice", "parent": None}),
    ],
)
def test_what_can_never_apply_is_ignored(event_type: str, obj: dict[str, Any]) -> None:
    assert read_event(body(event_type, obj)).ignored


def test_another_api_version_is_read_for_its_object_id_only() -> None:
    obj = stripe.subscription("sub_1", "cus_1", period_start=T0, account_id="acct_1")
    event = read_event(body("customer.subscription.updated", obj, api_version="2024-06-20"))
    assert (event.subject_id, event.state, event.customer_id) == ("sub_1", None, None)
    invoice = read_event(
        body(
            "invoice.payment_failed",
            {"id": "in_9", "subscription": "sub_1"},
            api_version="2024-06-20",
        )
    )
    assert invoice.subject_id == "in_9"  # the applier asks Stripe whose it is


def test_personal_data_is_left_out_of_the_stored_payload() -> None:
    session = stripe.checkout_session("cs_test_1", "acct_3", "cus_3", "sub_3")
    session["customer_details"] = {"email": "a@example.com", "name": "A", "phone": "1"}
    session["customer_email"] = "a@example.com"
    stored = json.loads(read_event(body("checkout.session.completed", session)).payload)
    kept = stored["data"]["object"]
    assert "customer_details" not in kept
    assert "customer_email" not in kept
    assert kept["client_reference_id"] == "acct_3"


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"object": "event"}',
        json.dumps({"object": "charge", "id": "ch_1"}).encode(),
        b"\xff\xfe",
        b'{"object": "event", "id": "evt_1", "created": NaN}',
        # Deep nesting, at two depths: one that json would take, one that it would not.
        body("customer.created", {"id": "cus_1", "deep": nested(40)}),
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        # NUL and a lone surrogate: text a database cannot store.
        body("customer.created", {"id": "cus_1", "note": "a\u0000b"}),
        body("customer.created", {"id": "cus_1", "note": "\ud800"}),
        body("customer.created", {"id": "cus_1", "\u0000": 1}),
        # Ids no Stripe object has.
        body("customer.created", {"id": "cus_" + "x" * 300}),
        body("customer.created", {"id": "cus_1"}, id="evt_" + "x" * 300),
        body("customer.created", {"id": "cus 1"}),
        body(
            "customer.subscription.updated",
            stripe.subscription("sub_1", "cus_" + "y" * 400, period_start=T0),
        ),
        body("customer.created", {"id": "cus_1"}, created=10**15),
    ],
)
def test_hostile_bodies_are_refused(payload: bytes) -> None:
    with pytest.raises(InvalidArgument):
        read_event(payload)
