"""A server killed mid-call leaves its idempotency claim behind: a retry
with the same key succeeds once that call's deadline has passed."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import grpc
import pytest

from billing.v1 import billing_pb2
from billing_client import BillingClient
from stripe_emulator.testing import EmulatorControl
from tests.e2e.conftest import Emulator, server_env, start_server, token
from tests.e2e.resilience_support import billing_stub
from tests.e2e.services import free_port, wait_until

pytestmark = pytest.mark.e2e

CHECKOUT_ROUTE = "POST /v1/checkout/sessions"
FIRST_DEADLINE_S = 2.0


def test_a_claim_left_by_a_killed_server_is_taken_over_after_its_deadline(
    database_url: str, emulator: Emulator, e2e_logs: Path
) -> None:
    account = f"acct_killed_{uuid.uuid4().hex[:8]}"
    key = uuid.uuid4().hex
    control = EmulatorControl(emulator.url)
    first = start_server(server_env(database_url, emulator, free_port()), e2e_logs)
    try:
        control.inject_fault("hang", count=-1, routes=[CHECKOUT_ROUTE], hang_s=30)
        reached = control.route_count(CHECKOUT_ROUTE)
        endings: list[grpc.StatusCode] = []

        def call() -> None:
            with billing_stub(first.target) as stub:
                try:
                    stub.CreateCheckout(
                        billing_pb2.CreateCheckoutRequest(
                            account_id=account, plan="pro", idempotency_key=key
                        ),
                        timeout=FIRST_DEADLINE_S,
                    )
                except grpc.RpcError as error:
                    endings.append(error.code())

        caller = threading.Thread(target=call)
        caller.start()
        wait_until(
            lambda: control.route_count(CHECKOUT_ROUTE) > reached, 10, "the checkout at Stripe"
        )
        first.process.popen.kill()  # no drain, no release: the claim stays
        first.process.popen.wait(10)
        first.process.stop()
        caller.join(10)
        control.clear_faults()
    finally:
        control.close()
    assert endings == [grpc.StatusCode.UNAVAILABLE]  # the connection died with the server

    second = start_server(server_env(database_url, emulator, free_port()), e2e_logs)
    try:
        with BillingClient(
            second.target, service_name="e2e-tests", insecure=True, token=token(), timeout=15
        ) as client:
            session = client.create_checkout(account, "pro", idempotency_key=key)
            again = client.create_checkout(account, "pro", idempotency_key=key)
    finally:
        second.process.stop()
    assert session.session_id
    assert again.session_id == session.session_id  # finished and replayed
