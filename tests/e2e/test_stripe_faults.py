"""Stripe failing, hanging and rate limiting, as a real billing-server meets it.

Each test starts a server of its own with a hair-trigger circuit breaker (so
that one test's failures never count against another's) and injects faults
into the shared Stripe emulator, which are cleared after every test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.orm import AuditLogRow, IdempotencyRecordRow
from stripe_emulator.testing import EmulatorControl
from tests.e2e.conftest import BillingServer, Emulator, server_env, start_server
from tests.e2e.resilience_support import (
    NOT_SERVING,
    SERVING,
    STRIPE_HEALTH,
    billing_stub,
    error_reason,
    fetch_all,
    health_status,
)
from tests.e2e.services import free_port

pytestmark = pytest.mark.e2e

COOLDOWN_S = 1.0
STRIPE_TIMEOUT_S = 1.0
CUSTOMERS_ROUTE = "POST /v1/customers"

StartServer = Callable[[int], BillingServer]


@pytest.fixture
def control(emulator: Emulator) -> Iterator[EmulatorControl]:
    control = EmulatorControl(emulator.url)
    yield control
    control.clear_faults()
    control.close()


@pytest.fixture
def fragile_server(database_url: str, emulator: Emulator, e2e_logs: Path) -> Iterator[StartServer]:
    """Starts servers whose breaker opens after `failures` Stripe failures."""
    started: list[BillingServer] = []

    def start(failures: int) -> BillingServer:
        env = server_env(database_url, emulator, free_port())
        env |= {
            "PAYMENTSVC_STRIPE_BREAKER_FAILURES": str(failures),
            "PAYMENTSVC_STRIPE_BREAKER_COOLDOWN": str(COOLDOWN_S),
            "PAYMENTSVC_STRIPE_MAX_RETRIES": "0",
            "PAYMENTSVC_STRIPE_TIMEOUT": str(STRIPE_TIMEOUT_S),
        }
        server = start_server(env, e2e_logs)
        started.append(server)
        return server

    yield start
    for server in started:
        assert server.process.stop() == 0


def checkout(
    stub: billing_pb2_grpc.BillingServiceStub, account_id: str, key: str | None = None
) -> billing_pb2.CreateCheckoutResponse:
    return stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(
            account_id=account_id, plan="pro", idempotency_key=key or uuid.uuid4().hex
        ),
        timeout=10,
    )


def failed_checkout(stub: billing_pb2_grpc.BillingServiceStub, account_id: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        checkout(stub, account_id)
    return raised.value


def fresh_account() -> str:
    return f"acct_{uuid.uuid4().hex[:16]}"


def test_the_breaker_opens_fails_fast_probes_and_closes(
    fragile_server: StartServer, control: EmulatorControl
) -> None:
    server = fragile_server(3)
    control.inject_fault("error", count=-1, status=503)
    with billing_stub(server.target) as stub:
        before = control.request_counts()["total"]
        for _ in range(3):
            error = failed_checkout(stub, fresh_account())
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert error_reason(error) == "STRIPE_UNAVAILABLE"
        assert control.request_counts()["total"] == before + 3

        # Open: callers are told at once, and Stripe is left alone.
        assert health_status(server.target, STRIPE_HEALTH) == NOT_SERVING
        assert health_status(server.target) == SERVING
        assert health_status(server.target, "billing.v1.BillingService") == SERVING
        opened = control.request_counts()["total"]
        for _ in range(5):
            started = time.monotonic()
            error = failed_checkout(stub, fresh_account())
            assert time.monotonic() - started < 0.5
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert error_reason(error) == "STRIPE_CIRCUIT_OPEN"
        assert control.request_counts()["total"] == opened

        # CheckPlan never needed Stripe, so it does not care.
        answer = stub.CheckPlan(
            billing_pb2.CheckPlanRequest(account_id=fresh_account(), plan="free"), timeout=5
        )
        assert answer.allowed

        # After the cool-down one probe reaches Stripe; it fails, so the
        # circuit opens again at once.
        time.sleep(COOLDOWN_S + 0.2)
        probe = failed_checkout(stub, fresh_account())
        assert error_reason(probe) == "STRIPE_UNAVAILABLE"
        assert control.request_counts()["total"] == opened + 1
        assert error_reason(failed_checkout(stub, fresh_account())) == "STRIPE_CIRCUIT_OPEN"
        assert health_status(server.target, STRIPE_HEALTH) == NOT_SERVING

        # Stripe recovers: the next probe succeeds and closes the circuit.
        control.clear_faults()
        time.sleep(COOLDOWN_S + 0.2)
        assert checkout(stub, fresh_account()).session_id.startswith("cs_")
        assert health_status(server.target, STRIPE_HEALTH) == SERVING
        assert checkout(stub, fresh_account()).session_id.startswith("cs_")


def test_a_hanging_stripe_is_unavailable_after_the_timeout_not_a_hang(
    fragile_server: StartServer, control: EmulatorControl
) -> None:
    server = fragile_server(3)
    control.inject_fault("hang", count=1, hang_s=30)
    with billing_stub(server.target) as stub:
        started = time.monotonic()
        error = failed_checkout(stub, fresh_account())
        took = time.monotonic() - started
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error_reason(error) == "STRIPE_UNAVAILABLE"
        assert STRIPE_TIMEOUT_S <= took < STRIPE_TIMEOUT_S + 2.5

        # One timeout is below the threshold: the next call goes through.
        assert checkout(stub, fresh_account()).session_id.startswith("cs_")
    assert health_status(server.target, STRIPE_HEALTH) == SERVING


def test_rate_limiting_is_retried_and_never_opens_the_breaker(
    fragile_server: StartServer, control: EmulatorControl
) -> None:
    server = fragile_server(1)  # a single counted failure would open it
    faulted_before = control.request_counts()["faulted"].get(CUSTOMERS_ROUTE, 0)
    received_before = control.route_count(CUSTOMERS_ROUTE)
    control.inject_fault("rate_limit", count=2, routes=[CUSTOMERS_ROUTE])
    with billing_stub(server.target) as stub:
        session = checkout(stub, fresh_account())
        assert session.session_id.startswith("cs_")
        counts = control.request_counts()
        assert counts["faulted"][CUSTOMERS_ROUTE] == faulted_before + 2
        assert counts["by_route"][CUSTOMERS_ROUTE] == received_before + 3
        assert health_status(server.target, STRIPE_HEALTH) == SERVING

        # The same server does open on one real failure: the 429s were not
        # counted, not ignored for want of a threshold.
        control.inject_fault("error", count=1, routes=[CUSTOMERS_ROUTE])
        assert error_reason(failed_checkout(stub, fresh_account())) == "STRIPE_UNAVAILABLE"
        assert health_status(server.target, STRIPE_HEALTH) == NOT_SERVING


def test_a_checkout_that_failed_at_stripe_leaves_nothing_half_written(
    fragile_server: StartServer, control: EmulatorControl, account_id: str
) -> None:
    server = fragile_server(3)
    key = uuid.uuid4().hex
    control.inject_fault("error", count=1, routes=["POST /v1/checkout/sessions"])
    with billing_stub(server.target) as stub:
        with pytest.raises(grpc.RpcError) as raised:
            checkout(stub, account_id, key)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE

        url = server.env["SQLALCHEMY_DATABASE_URI"]
        audited = fetch_all(
            url,
            select(AuditLogRow.action, AuditLogRow.outcome).where(
                AuditLogRow.account_id == account_id
            ),
        )
        assert [tuple(row) for row in audited] == [("CreateCheckout", "UNAVAILABLE")]
        remembered = fetch_all(
            url, select(IdempotencyRecordRow.state).where(IdempotencyRecordRow.key == key)
        )
        assert list(remembered) == []  # a transient failure is not remembered

        # So the retry with the same key runs again, and makes one session.
        sessions_before = control.route_count("POST /v1/checkout/sessions")
        session = checkout(stub, account_id, key)
        assert checkout(stub, account_id, key) == session
        assert control.route_count("POST /v1/checkout/sessions") == sessions_before + 1
        outcomes = fetch_all(
            url, select(AuditLogRow.outcome).where(AuditLogRow.account_id == account_id)
        )
        assert sorted(row.outcome for row in outcomes) == ["UNAVAILABLE", "ok"]
        states = fetch_all(
            url, select(IdempotencyRecordRow.state).where(IdempotencyRecordRow.key == key)
        )
        assert [row.state for row in states] == ["succeeded"]
