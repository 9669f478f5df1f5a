"""Real processes for end-to-end tests: the Stripe emulator and billing-server.

Both run as console scripts on free loopback ports, exactly as operators run
them; tests talk to them over sockets only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from billing.v1 import billing_pb2_grpc
from billing_server.adapters.tokens import issue_token
from billing_server.domain.callers import Scope
from paymentsvc_testing.tcp_proxy import TcpProxy
from tests.e2e.services import BearerToken, Process, free_port, run_script, wait_until


@dataclass(frozen=True)
class Emulator:
    url: str
    http: httpx.Client

    def requests_to(self, route: str) -> int:
        counts = self.http.get("/_emulator/requests").json()
        return int(counts["by_route"].get(route, 0))

    def total_requests(self) -> int:
        return int(self.http.get("/_emulator/requests").json()["total"])

    def complete_checkout(self, session_id: str) -> None:
        response = self.http.post(f"/_emulator/checkout/sessions/{session_id}/complete")
        response.raise_for_status()


E2E_JWT_KEY = "e2e-only-jwt-signing-key-0123456789abcdef"
# The gateway's and the server's: two, as during a rotation.
E2E_WEBHOOK_SECRETS = ("whsec_test_current", "whsec_test_previous")


def token(service: str = "e2e-tests", scopes: Iterable[Scope] = tuple(Scope)) -> str:
    """A service token the e2e servers accept."""
    return issue_token(E2E_JWT_KEY, service, scopes, timedelta(hours=1), datetime.now(UTC))


@dataclass(frozen=True)
class BillingServer:
    target: str
    process: Process
    env: dict[str, str]

    @property
    def token(self) -> str:
        return token()

    @property
    def metrics_url(self) -> str:
        return f"http://{self.env['PAYMENTSVC_METRICS_ADDRESS']}/metrics"


@pytest.fixture(scope="session")
def e2e_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="session")
def emulator(e2e_logs: Path) -> Iterator[Emulator]:
    port = free_port()
    process = Process("stripe-emulator", ["stripe-emulator", "--port", str(port)], {}, e2e_logs)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10) as http:
        try:
            wait_until(
                lambda: process.running() and http.get("/_emulator/healthz").is_success,
                20,
                "stripe-emulator",
            )
            # The plans' products and prices, as an operator creates them.
            synced = run_script(
                ["billing-admin", "catalog", "sync"], {"PAYMENTSVC_STRIPE_API_BASE": url}
            )
            assert synced.returncode == 0, synced.stderr
            yield Emulator(url, http)
        finally:
            process.stop()


def server_env(database_url: str, emulator: Emulator, port: int) -> dict[str, str]:
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PAYMENTSVC_STRIPE_API_BASE": emulator.url,
        "PAYMENTSVC_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "PAYMENTSVC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "PAYMENTSVC_SUCCESS_URL": "https://app.example/billing/done",
        "PAYMENTSVC_CANCEL_URL": "https://app.example/billing/cancel",
        "PAYMENTSVC_RETURN_URL": "https://app.example/account",
        "JWT_SECRET_KEY": E2E_JWT_KEY,
        "STRIPE_WEBHOOK_SECRET": ",".join(E2E_WEBHOOK_SECRETS),
        # No load balancer to wait for; test_shutdown.py sets its own delay.
        "PAYMENTSVC_SHUTDOWN_DELAY": "0",
        # One process, unless a test asks for more: tests start many servers.
        "PAYMENTSVC_GRPC_PROCESSES": "1",
    }


READINESS = "billing.v1.BillingService"


def start_server(
    env: dict[str, str], logs: Path, credentials: grpc.ChannelCredentials | None = None
) -> BillingServer:
    target = env["PAYMENTSVC_GRPC_ADDRESS"]
    process = Process("billing-server", ["billing-server"], env, logs)
    channel = (
        grpc.secure_channel(target, credentials)
        if credentials is not None
        else grpc.insecure_channel(target)
    )
    health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types omit Check
    try:
        wait_until(
            lambda: (
                process.running()
                # Ready: the entitlement view is loaded.
                and health.Check(health_pb2.HealthCheckRequest(service=READINESS), timeout=1).status
                == health_pb2.HealthCheckResponse.SERVING
            ),
            # Generous: a loaded machine starts processes slowly, and a
            # deadline only costs time when the server never comes up.
            90,
            "billing-server",
        )
    except Exception:
        process.stop()
        raise
    finally:
        channel.close()
    return BillingServer(target, process, env)


@pytest.fixture(scope="session")
def billing_server(
    database_url: str, emulator: Emulator, e2e_logs: Path
) -> Iterator[BillingServer]:
    server = start_server(server_env(database_url, emulator, free_port()), e2e_logs)
    yield server
    server.process.stop()


@dataclass(frozen=True)
class Gateway:
    url: str
    process: Process
    secrets: tuple[str, ...]

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/stripe/webhook"


def gateway_env(billing_target: str, port: int, secrets: tuple[str, ...]) -> dict[str, str]:
    return {
        "PAYMENTSVC_BILLING_TOKEN": token("webhook-gateway", [Scope.INGEST]),
        "STRIPE_WEBHOOK_SECRET": ",".join(secrets),
        "PAYMENTSVC_BILLING_TARGET": billing_target,
        "PAYMENTSVC_GATEWAY_HOST": "127.0.0.1",
        "PAYMENTSVC_GATEWAY_PORT": str(port),
    }


def start_gateway(env: dict[str, str], logs: Path) -> Gateway:
    url = f"http://127.0.0.1:{env['PAYMENTSVC_GATEWAY_PORT']}"
    process = Process("webhook-gateway", ["webhook-gateway"], env, logs)
    try:
        with httpx.Client(base_url=url, timeout=2) as http:
            wait_until(
                lambda: process.running() and http.get("/healthz").is_success,
                20,
                "webhook-gateway",
            )
    except Exception:
        process.stop()
        raise
    return Gateway(url, process, tuple(env["STRIPE_WEBHOOK_SECRET"].split(",")))


@pytest.fixture(scope="session")
def gateway(billing_server: BillingServer, e2e_logs: Path) -> Iterator[Gateway]:
    # Two secrets, as during a rotation: both must be accepted.
    running = start_gateway(
        gateway_env(billing_server.target, free_port(), E2E_WEBHOOK_SECRETS), e2e_logs
    )
    yield running
    running.process.stop()


@pytest.fixture(scope="session")
def channel(billing_server: BillingServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(billing_server.target) as chan:
        yield grpc.intercept_channel(chan, BearerToken(billing_server.token))


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> billing_pb2_grpc.BillingServiceStub:
    return billing_pb2_grpc.BillingServiceStub(channel)


@contextlib.contextmanager
def server_behind_proxy(
    database_url: str, emulator: Emulator, logs: Path, settings: dict[str, str]
) -> Iterator[tuple[BillingServer, TcpProxy]]:
    """A billing-server whose database connections go through a TCP proxy
    that a test can cut and restore; `settings` are added to its env."""
    url = make_url(database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port)
    env = server_env(through_proxy.render_as_string(hide_password=False), emulator, free_port())
    env["PAYMENTSVC_DB_CONNECT_TIMEOUT"] = "2"
    env.update(settings)
    server = start_server(env, logs)
    try:
        yield server, proxy
    finally:
        server.process.stop()
