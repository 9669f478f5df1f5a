"""At DEBUG, after a whole lifecycle, no log holds a secret or a customer's email.

A server and a gateway of their own run with PAYMENTSVC_LOG_LEVEL=DEBUG and
distinctive secrets; the test drives every kind of call through them (good
and refused) and then searches everything both processes wrote.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
import stripe

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.tokens import issue_token
from billing_server.domain.callers import Scope
from stripe_emulator.testing import EmulatorControl
from tests import stripe_payloads
from tests.conftest import fresh_database
from tests.e2e.conftest import (
    E2E_JWT_KEY,
    BillingServer,
    Emulator,
    Gateway,
    gateway_env,
    server_env,
    start_gateway,
    start_server,
    token,
)
from tests.e2e.services import BearerToken, free_port
from tests.signing import signature_header

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Stack:
    server: BillingServer
    gateway: Gateway
    api_key: str
    webhook_secret: str
    gateway_token: str


@pytest.fixture(scope="module")
def chatty_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Its own, so that this server (and its logs) applies the events it is sent."""
    with fresh_database(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def chatty(chatty_database: str, emulator: Emulator, e2e_logs: Path) -> Iterator[Stack]:
    api_key = f"sk_test_hygiene_{secrets.token_hex(16)}"
    webhook_secret = f"whsec_hygiene_{secrets.token_hex(16)}"
    env = server_env(chatty_database, emulator, free_port())
    # A real-looking key with the emulator as Stripe: the key is sent on
    # every Stripe request, so the server has every chance to log it.
    env |= {
        "STRIPE_API_KEY": api_key,
        "PAYMENTSVC_LOG_LEVEL": "DEBUG",
        # The server checks every delivery's signature again, with the same secret.
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
    }
    server = start_server(env, e2e_logs)
    genv = gateway_env(server.target, free_port(), (webhook_secret,))
    genv["PAYMENTSVC_LOG_LEVEL"] = "DEBUG"
    try:
        gateway = start_gateway(genv, e2e_logs)
    except Exception:
        server.process.stop()
        raise
    yield Stack(server, gateway, api_key, webhook_secret, genv["PAYMENTSVC_BILLING_TOKEN"])
    gateway.process.stop()
    server.process.stop()


def test_no_log_holds_a_secret_a_token_a_signature_or_an_email(
    chatty: Stack, emulator: Emulator, account_id: str
) -> None:
    email = f"hygiene.{uuid.uuid4().hex[:12]}@example.com"
    good_token = token("hygiene-tests")
    forged_token = issue_token(
        f"forged-key-{secrets.token_hex(16)}",
        "intruder",
        list(Scope),
        timedelta(hours=1),
        datetime.now(UTC),
    )
    garbage_token = f"garbage-{secrets.token_hex(16)}"
    signatures: list[str] = []

    with grpc.insecure_channel(chatty.server.target) as plain:
        stub = billing_pb2_grpc.BillingServiceStub(
            grpc.intercept_channel(plain, BearerToken(good_token))
        )
        session = stub.CreateCheckout(
            billing_pb2.CreateCheckoutRequest(
                account_id=account_id,
                plan="pro",
                customer_email=email,
                idempotency_key=uuid.uuid4().hex,
            ),
            timeout=10,
        )
        control = EmulatorControl(emulator.url)
        try:
            completed = control.complete_checkout(session.session_id)
        finally:
            control.close()
        confirmed = stub.ConfirmCheckout(
            billing_pb2.ConfirmCheckoutRequest(session_id=session.session_id), timeout=10
        ).subscription
        assert confirmed.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE

        # Stripe's webhook, signed with the endpoint's secret, through the gateway:
        # the subscription as Stripe holds it.
        found = (
            stripe.StripeClient(chatty.api_key, base_addresses={"api": emulator.url})
            .v1.subscriptions.retrieve(str(completed["subscription"]))
            .to_dict()
        )
        subscription = json.loads(json.dumps(found, default=str))
        event = stripe_payloads.event(
            "customer.subscription.updated", subscription, datetime.now(UTC)
        )
        signed = signature_header(event, chatty.webhook_secret)
        forged_signature = signature_header(event, f"whsec_forged_{secrets.token_hex(8)}")
        signatures += [signed, forged_signature]
        with httpx.Client(base_url=chatty.gateway.url, timeout=10) as http:
            delivered = http.post(
                "/stripe/webhook", content=event, headers={"Stripe-Signature": signed}
            )
            refused = http.post(
                "/stripe/webhook", content=event, headers={"Stripe-Signature": forged_signature}
            )
        assert delivered.status_code == 200, delivered.text
        assert refused.status_code == 400

        changed = stub.ChangePlan(
            billing_pb2.ChangePlanRequest(
                account_id=account_id, plan="enterprise", idempotency_key=uuid.uuid4().hex
            ),
            timeout=10,
        ).subscription
        assert changed.plan == "enterprise"
        canceled = stub.CancelSubscription(
            billing_pb2.CancelSubscriptionRequest(
                account_id=account_id,
                timing=billing_pb2.CANCELLATION_TIMING_IMMEDIATELY,
                idempotency_key=uuid.uuid4().hex,
            ),
            timeout=10,
        ).subscription
        assert canceled.status == billing_pb2.SUBSCRIPTION_STATUS_CANCELED

        for bad in (forged_token, garbage_token):
            with pytest.raises(grpc.RpcError) as refused_call:
                billing_pb2_grpc.BillingServiceStub(plain).CheckPlan(
                    billing_pb2.CheckPlanRequest(account_id=account_id, plan="pro"),
                    metadata=(("authorization", f"Bearer {bad}"),),
                    timeout=5,
                )
            assert refused_call.value.code() == grpc.StatusCode.UNAUTHENTICATED

    server_log = chatty.server.process.log()
    gateway_log = chatty.gateway.process.log()
    # The logs were written at DEBUG and recorded the refusals, where a
    # credential is most tempting to log: their silence means something.
    assert " DEBUG " in server_log
    assert " DEBUG " in gateway_log
    assert "refused a token" in server_log
    assert "webhook refused" in gateway_log

    never_logged = {
        "the JWT signing key": E2E_JWT_KEY,
        "the caller's token": good_token,
        "a forged token": forged_token,
        "a garbage token": garbage_token,
        "the gateway's token": chatty.gateway_token,
        "the webhook secret": chatty.webhook_secret,
        "the Stripe API key": chatty.api_key,
        "the customer's email": email,
        **{f"Stripe-Signature #{n}": value for n, value in enumerate(signatures)},
        **{
            f"the HMAC of Stripe-Signature #{n}": value.split("v1=")[1]
            for n, value in enumerate(signatures)
        },
    }
    leaks = [
        f"{what} in the {name} log"
        for name, log in (("billing-server", server_log), ("webhook-gateway", gateway_log))
        for what, secret in never_logged.items()
        if secret in log
    ]
    assert leaks == []


def hmac_of(signature: str) -> str:
    return signature.partition("v1=")[2]
