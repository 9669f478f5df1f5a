"""SIGTERM with calls in flight: both processes drain and exit 0, in time."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
import pytest

from billing.v1 import billing_pb2, billing_pb2_grpc
from stripe_emulator.testing import EmulatorControl
from tests import stripe_payloads
from tests.e2e.conftest import (
    BillingServer,
    Emulator,
    gateway_env,
    server_env,
    start_gateway,
    start_server,
)
from tests.e2e.resilience_support import billing_stub, error_reason
from tests.e2e.services import Process, free_port, wait_until
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

CHECKOUT_ROUTE = "POST /v1/checkout/sessions"
IN_FLIGHT = 50
HANG_S = 1.5
GRACE_S = 5.0
EXIT_MARGIN_S = 5.0
# What a call cut short by a shutdown may end with: never UNKNOWN or INTERNAL.
CLEAN_ENDINGS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}


@pytest.fixture
def control(emulator: Emulator) -> Iterator[EmulatorControl]:
    control = EmulatorControl(emulator.url)
    yield control
    control.clear_faults()
    control.close()


def start_draining_server(
    database_url: str, emulator: Emulator, logs: Path, grace_s: float, stripe_timeout_s: float
) -> BillingServer:
    env = server_env(database_url, emulator, free_port())
    env |= {
        "PAYMENTSVC_SHUTDOWN_GRACE": str(grace_s),
        # Every call gets a worker of its own: all of them are truly in flight.
        "PAYMENTSVC_GRPC_MAX_WORKERS": str(IN_FLIGHT + 8),
        "PAYMENTSVC_STRIPE_MAX_RETRIES": "0",
        "PAYMENTSVC_STRIPE_TIMEOUT": str(stripe_timeout_s),
        "PAYMENTSVC_STRIPE_BREAKER_FAILURES": str(IN_FLIGHT * 2),
    }
    return start_server(env, logs)


def checkout(stub: billing_pb2_grpc.BillingServiceStub) -> grpc.StatusCode | grpc.RpcError:
    try:
        stub.CreateCheckout(
            billing_pb2.CreateCheckoutRequest(
                account_id=f"acct_{uuid.uuid4().hex[:16]}",
                plan="pro",
                idempotency_key=uuid.uuid4().hex,
            ),
            timeout=30,
        )
    except grpc.RpcError as error:
        return error
    return grpc.StatusCode.OK


def exit_code_within(process: Process, timeout_s: float) -> int | None:
    try:
        return process.popen.wait(timeout_s)
    except subprocess.TimeoutExpired:
        return None


def fire_in_flight(
    pool: ThreadPoolExecutor,
    stub: billing_pb2_grpc.BillingServiceStub,
    control: EmulatorControl,
) -> list[Future[grpc.StatusCode | grpc.RpcError]]:
    """IN_FLIGHT checkouts, returned once each hangs in Stripe's answer."""
    reached = control.route_count(CHECKOUT_ROUTE)
    calls = [pool.submit(checkout, stub) for _ in range(IN_FLIGHT)]
    wait_until(
        lambda: control.route_count(CHECKOUT_ROUTE) >= reached + IN_FLIGHT,
        15,
        f"{IN_FLIGHT} checkouts waiting on Stripe",
    )
    return calls


def code_of(ending: grpc.StatusCode | grpc.RpcError) -> grpc.StatusCode:
    return ending if isinstance(ending, grpc.StatusCode) else ending.code()


def test_sigterm_drains_fifty_calls_in_flight_and_exits_0(
    database_url: str, emulator: Emulator, e2e_logs: Path, control: EmulatorControl
) -> None:
    server = start_draining_server(
        database_url, emulator, e2e_logs, grace_s=GRACE_S, stripe_timeout_s=10
    )
    control.inject_fault("hang", count=-1, routes=[CHECKOUT_ROUTE], hang_s=HANG_S)
    with (
        billing_stub(server.target) as stub,
        ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool,
    ):
        calls = fire_in_flight(pool, stub, control)
        signalled = time.monotonic()
        server.process.popen.send_signal(signal.SIGTERM)

        # New calls are refused while the old ones drain.
        time.sleep(0.3)
        assert server.process.popen.poll() is None, "exited before draining its calls"
        late = checkout(stub)
        assert code_of(late) == grpc.StatusCode.UNAVAILABLE

        endings = [call.result(timeout=GRACE_S + EXIT_MARGIN_S) for call in calls]
    assert {code_of(ending) for ending in endings} <= CLEAN_ENDINGS
    # The grace period outlasts Stripe's hang: each call got its own answer
    # (Stripe failed), none was cut off.
    assert {error_reason(ending) for ending in endings if isinstance(ending, grpc.RpcError)} == {
        "STRIPE_UNAVAILABLE"
    }

    assert exit_code_within(server.process, GRACE_S + EXIT_MARGIN_S) == 0
    assert time.monotonic() - signalled < GRACE_S + EXIT_MARGIN_S
    assert server.process.stop() == 0
    assert "billing-server stopped" in server.process.log()


def test_calls_outliving_the_grace_period_are_cut_off_and_the_server_exits_0(
    database_url: str, emulator: Emulator, e2e_logs: Path, control: EmulatorControl
) -> None:
    grace_s = 1.0
    # Stripe hangs far longer than the grace period, and the Stripe client
    # would wait for it: the shutdown must not.
    server = start_draining_server(
        database_url, emulator, e2e_logs, grace_s=grace_s, stripe_timeout_s=20
    )
    control.inject_fault("hang", count=-1, routes=[CHECKOUT_ROUTE], hang_s=30)
    with (
        billing_stub(server.target) as stub,
        ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool,
    ):
        calls = fire_in_flight(pool, stub, control)
        signalled = time.monotonic()
        server.process.popen.send_signal(signal.SIGTERM)
        endings = [call.result(timeout=grace_s + EXIT_MARGIN_S) for call in calls]
        assert {code_of(ending) for ending in endings} <= CLEAN_ENDINGS - {grpc.StatusCode.OK}
        exit_code = exit_code_within(server.process, grace_s + EXIT_MARGIN_S)
        took = time.monotonic() - signalled
        server.process.stop(timeout_s=1)
    assert exit_code == 0, f"no exit within {grace_s + EXIT_MARGIN_S}s of SIGTERM"
    assert took < grace_s + EXIT_MARGIN_S


def test_the_gateway_drains_webhooks_in_flight_and_exits_0(
    database_url: str, emulator: Emulator, e2e_logs: Path, control: EmulatorControl
) -> None:
    secret = f"whsec_{uuid.uuid4().hex}"
    env = server_env(database_url, emulator, free_port())
    server = start_server(env, e2e_logs)
    gateway = start_gateway(gateway_env(server.target, free_port(), (secret,)), e2e_logs)
    try:
        # Each event makes the server fetch its subscription from Stripe,
        # whose first answer takes HANG_S (the stripe library then retries):
        # the deliveries are in flight when the gateway is told to stop.
        with billing_stub(server.target) as stub:
            subscriptions = [subscribed(stub, control) for _ in range(3)]
        fetch_route = "GET /v1/subscriptions/{id}"
        reached = control.route_count(fetch_route)
        control.inject_fault("hang", count=len(subscriptions), routes=[fetch_route], hang_s=HANG_S)
        with (
            httpx.Client(base_url=gateway.url, timeout=30) as http,
            ThreadPoolExecutor(max_workers=len(subscriptions)) as pool,
        ):
            deliveries = [
                pool.submit(deliver, http, gateway.webhook_url, secret, sub, customer)
                for sub, customer in subscriptions
            ]
            wait_until(
                lambda: control.route_count(fetch_route) >= reached + len(subscriptions),
                10,
                "deliveries waiting on Stripe",
            )
            signalled = time.monotonic()
            gateway.process.popen.send_signal(signal.SIGTERM)
            answers = [delivery.result(timeout=20) for delivery in deliveries]
            assert exit_code_within(gateway.process, 15) == 0
        assert time.monotonic() - signalled < 15
        assert [answer.status_code for answer in answers] == [200] * len(subscriptions)
        assert {answer.json()["outcome"] for answer in answers} == {"applied"}
    finally:
        gateway.process.stop()
        assert server.process.stop() == 0


def subscribed(
    stub: billing_pb2_grpc.BillingServiceStub, control: EmulatorControl
) -> tuple[str, str]:
    """A paid subscription in Stripe: its id and its customer's."""
    session = stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(account_id=f"acct_{uuid.uuid4().hex[:16]}", plan="pro"),
        timeout=10,
    )
    completed = control.complete_checkout(session.session_id)
    return str(completed["subscription"]), str(completed["customer"])


def deliver(
    http: httpx.Client, url: str, secret: str, subscription_id: str, customer_id: str
) -> httpx.Response:
    payload = stripe_payloads.event(
        "invoice.payment_succeeded",
        stripe_payloads.invoice(subscription_id, customer_id),
        datetime.now(UTC),
    )
    json.loads(payload)  # a well-formed event, as Stripe sends
    return http.post(
        url,
        content=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": signature_header(payload, secret),
        },
    )
