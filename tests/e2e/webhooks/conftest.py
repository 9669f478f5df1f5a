"""A whole stack with webhooks flowing: emulator → gateway → server → database.

The emulator delivers every event it records, signed, to the gateway, which
forwards it to the billing server; tests drive Stripe-side changes through
the emulator and watch the service's state follow.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import pytest
from sqlalchemy import func, select

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import StripeEventRow
from stripe_emulator.testing import EmulatorControl
from tests.conftest import fresh_database
from tests.e2e.conftest import (
    BillingServer,
    Emulator,
    Gateway,
    gateway_env,
    server_env,
    start_gateway,
    start_server,
    token,
)
from tests.e2e.services import BearerToken, Process, free_port, run_script, wait_until
from tests.e2e.webhooks.front_end import run_front_end


@dataclass
class WebhookStack:
    emulator: Emulator
    control: EmulatorControl
    secret: str
    server: BillingServer
    gateway: Gateway
    logs: Path
    # Where Stripe sends the customer back to (see `front_end.py`).
    front_end: str
    _channels: list[grpc.Channel] = field(default_factory=list)

    def stub(self) -> billing_pb2_grpc.BillingServiceStub:
        channel = grpc.insecure_channel(self.server.target)
        self._channels.append(channel)
        return billing_pb2_grpc.BillingServiceStub(
            grpc.intercept_channel(channel, BearerToken(token()))
        )

    def restart_server(self) -> None:
        """Starts the server again, on the same port and database."""
        self.server = start_server(self.server.env, self.logs)

    def pending_events(self) -> int:
        """Events the server stored and has not applied (deferred ones aside)."""
        engine = make_engine(self.server.env["SQLALCHEMY_DATABASE_URI"])
        try:
            with engine.connect() as connection:
                return int(
                    connection.scalar(
                        select(func.count()).where(
                            StripeEventRow.status.in_(("received", "failed"))
                        )
                    )
                    or 0
                )
        finally:
            engine.dispose()

    def applied(self, timeout_s: float = 30.0) -> None:
        """Waits until every event the server stored has been applied."""
        wait_until(lambda: self.pending_events() == 0, timeout_s, "the stored events to apply")

    def check(self, account_id: str, plan: str = "pro") -> billing_pb2.CheckPlanResponse:
        return self.stub().CheckPlan(
            billing_pb2.CheckPlanRequest(account_id=account_id, plan=plan), timeout=5
        )

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


@pytest.fixture(scope="package")
def stack_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stack's own database: its server applies events against its own
    emulator, and must not take those of servers that talk to another."""
    with fresh_database(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="package")
def front_end() -> Iterator[str]:
    with run_front_end() as url:
        yield url


@pytest.fixture(scope="package")
def stack(stack_database_url: str, e2e_logs: Path, front_end: str) -> Iterator[WebhookStack]:
    secret = f"whsec_e2e_{secrets.token_hex(12)}"
    emulator_port, gateway_port = free_port(), free_port()
    emulator_process = Process(
        "stripe-emulator-webhooks",
        [
            "stripe-emulator",
            "--port",
            str(emulator_port),
            "--webhook-url",
            f"http://127.0.0.1:{gateway_port}/stripe/webhook",
            "--webhook-secret",
            secret,
            "--webhook-retry-base",
            "0.2",
            "--webhook-retry-cap",
            "1",
        ],
        {},
        e2e_logs,
    )
    url = f"http://127.0.0.1:{emulator_port}"
    http = httpx.Client(base_url=url, timeout=10)
    control = EmulatorControl(url)
    server: BillingServer | None = None
    gateway: Gateway | None = None
    try:
        wait_until(
            lambda: emulator_process.running() and http.get("/_emulator/healthz").is_success,
            20,
            "stripe-emulator",
        )
        emulator = Emulator(url, http)
        env = {
            **server_env(stack_database_url, emulator, free_port()),
            "STRIPE_WEBHOOK_SECRET": secret,
            "PAYMENTSVC_SUCCESS_URL": f"{front_end}/billing/done",
            "PAYMENTSVC_CANCEL_URL": f"{front_end}/billing/cancel",
            "PAYMENTSVC_RETURN_URL": f"{front_end}/account",
        }
        assert run_script(["billing-admin", "catalog", "sync"], env).returncode == 0
        server = start_server(env, e2e_logs)
        gateway = start_gateway(gateway_env(server.target, gateway_port, (secret,)), e2e_logs)
        running = WebhookStack(emulator, control, secret, server, gateway, e2e_logs, front_end)
        yield running
        running.close()
        server = running.server
    finally:
        for process in (gateway.process if gateway else None, server.process if server else None):
            if process is not None:
                process.stop()
        emulator_process.stop()
        control.close()
        http.close()


@pytest.fixture
def calm(stack: WebhookStack) -> Iterator[WebhookStack]:
    """The stack with normal deliveries, whatever the test did to them."""
    yield stack
    stack.control.set_chaos()
    stack.control.resume_webhooks()
    stack.control.clear_faults()
