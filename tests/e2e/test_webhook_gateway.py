"""The webhook gateway as Stripe meets it: a real uvicorn process."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import StripeEventRow
from tests import stripe_payloads as stripe
from tests.e2e.conftest import BillingServer, Gateway, gateway_env, start_gateway
from tests.e2e.services import free_port, wait_until
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


def post(http: httpx.Client, payload: bytes, header: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return http.post("/stripe/webhook", content=payload, headers=headers)


def stored(server: BillingServer, payload: bytes) -> bool:
    # Read with a pattern, not a parser: some payloads here are built to break one.
    found_id = re.search(rb'"id": "(evt_[A-Za-z0-9_]+)"', payload)
    assert found_id is not None
    engine = make_engine(server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            found = connection.scalar(
                select(StripeEventRow.event_id).where(
                    StripeEventRow.event_id == found_id[1].decode()
                )
            )
    finally:
        engine.dispose()
    return found is not None


def subscription_event(account_id: str) -> bytes:
    suffix = uuid.uuid4().hex[:10]
    obj = stripe.subscription(
        f"sub_{suffix}", f"cus_{suffix}", period_start=T0, account_id=account_id
    )
    return stripe.event("customer.subscription.created", obj, T0)


def test_a_signed_event_is_stored_then_applied_once(
    http: httpx.Client, gateway: Gateway, stub: billing_pb2_grpc.BillingServiceStub, account_id: str
) -> None:
    payload = subscription_event(account_id)
    first = post(http, payload, signature_header(payload, gateway.secrets[0]))
    assert first.status_code == 200
    assert first.json()["outcome"] == "stored"

    def allowed() -> bool:
        request = billing_pb2.CheckPlanRequest(account_id=account_id, plan="pro")
        return bool(stub.CheckPlan(request, timeout=5).allowed)

    wait_until(allowed, 10, "the stored event to apply")

    again = post(http, payload, signature_header(payload, gateway.secrets[0]))
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"


def test_the_previous_secret_is_accepted_during_a_rotation(
    http: httpx.Client, gateway: Gateway, account_id: str
) -> None:
    payload = subscription_event(account_id)
    assert post(http, payload, signature_header(payload, gateway.secrets[1])).status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda p: None, id="missing"),
        pytest.param(lambda p: signature_header(p, "whsec_wrong"), id="wrong-secret"),
        pytest.param(lambda p: "t=abc,v1=zzz", id="malformed"),
        pytest.param(
            lambda p: signature_header(p, "whsec_test_current", int(time.time()) - 600),
            id="older-than-tolerance",
        ),
        pytest.param(
            lambda p: signature_header(p, "whsec_test_current", int(time.time()) + 600),
            id="from-the-future",
        ),
        pytest.param(
            lambda p: signature_header(p.replace(b"active", b"paused"), "whsec_test_current"),
            id="signature-of-another-body",
        ),
    ],
)
def test_a_bad_signature_is_refused_and_nothing_is_stored(
    http: httpx.Client, billing_server: BillingServer, account_id: str, forge: object
) -> None:
    payload = subscription_event(account_id)
    header = forge(payload)  # type: ignore[operator]
    response = post(http, payload, header)
    assert response.status_code == 400
    assert not stored(billing_server, payload)


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b'{"object": "charge", "id": "ch_1"}', b"[1, 2]"],
    ids=["not-json", "not-an-event", "a-list"],
)
def test_a_signed_body_that_is_not_an_event_is_refused(
    http: httpx.Client, gateway: Gateway, payload: bytes
) -> None:
    assert post(http, payload, signature_header(payload, gateway.secrets[0])).status_code == 400


def hostile(obj_changes: dict[str, object] | None = None, raw_object: str | None = None) -> bytes:
    """A subscription event, correctly signed below, with something no Stripe event holds."""
    suffix = uuid.uuid4().hex[:10]
    obj = stripe.subscription(f"sub_{suffix}", f"cus_{suffix}", period_start=T0)
    obj.update(obj_changes or {})
    envelope = json.loads(stripe.event("customer.subscription.created", obj, T0))
    if raw_object is None:
        return json.dumps(envelope).encode()
    text = json.dumps({**envelope, "data": {"object": "RAW"}})
    return text.replace('"RAW"', raw_object).encode()


HOSTILE = {
    "deep-nesting": hostile(
        raw_object='{"id": "sub_x", "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5001
    ),
    "nested-past-the-limit": hostile({"metadata": json.loads('{"a": ' * 40 + "1" + "}" * 40)}),
    "nul-in-an-id": hostile({"id": "sub_\u0000x"}),
    "nul-in-a-value": hostile({"metadata": {"account_id": "acct_\u0000"}}),
    "lone-surrogate": hostile({"metadata": {"note": "\ud800"}}),
    "oversized-id": hostile({"id": "sub_" + "x" * 5000}),
    "oversized-customer": hostile({"customer": "cus_" + "y" * 5000}),
}


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_signed_hostile_event_is_refused_and_nothing_is_stored(
    http: httpx.Client, gateway: Gateway, billing_server: BillingServer, payload: bytes
) -> None:
    response = post(http, payload, signature_header(payload, gateway.secrets[0]))
    assert response.status_code == 400
    assert not stored(billing_server, payload)


def test_an_oversized_body_is_refused(http: httpx.Client, gateway: Gateway) -> None:
    big = b'{"object": "event", "pad": "' + b"x" * (1 << 20) + b'"}'
    declared = post(http, big, signature_header(big, gateway.secrets[0]))
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    streamed = http.post(
        "/stripe/webhook", content=chunks(), headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert streamed.status_code == 413


def test_other_methods_are_not_allowed(http: httpx.Client) -> None:
    assert http.get("/stripe/webhook").status_code == 405
    assert http.put("/stripe/webhook", content=b"{}").status_code == 405


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code == 200


def test_without_the_billing_server_stripe_is_told_to_retry(
    e2e_logs: Path, account_id: str
) -> None:
    secrets = ("whsec_test_current",)
    orphan = start_gateway(gateway_env(f"127.0.0.1:{free_port()}", free_port(), secrets), e2e_logs)
    try:
        with httpx.Client(base_url=orphan.url, timeout=15) as client:
            payload = subscription_event(account_id)
            response = post(client, payload, signature_header(payload, secrets[0]))
            assert response.status_code == 503
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
    finally:
        assert orphan.process.stop() == 0
