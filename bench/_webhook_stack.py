"""webhook-gateway in front of billing-server, on a fresh database."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from bench._billing_server import start_billing_server, token
from bench._database import migrate, recreate
from bench._processes import Process, free_port, wait_until
from bench._webhook_events import WEBHOOK_SECRET
from billing_server.domain.callers import Scope

SERVER_ENV = {
    # Scheduled replay and reconciliation would first run after an hour; off,
    # so that every Stripe request counted is the applier's.
    "PAYMENTSVC_MAINTENANCE_INTERVAL": "0",
}


@dataclass(frozen=True)
class WebhookStack:
    database_url: str
    server: Process
    gateway: Process
    gateway_port: int

    def watch(self) -> dict[int, str]:
        """The processes named in CPU shares."""
        return {self.gateway.pid: "webhook-gateway", self.server.pid: "billing-server"}


@contextmanager
def webhook_stack(database_url: str, stripe_api_base: str | None = None) -> Iterator[WebhookStack]:
    """Drops and migrates the database, starts both; stops both on the way out."""
    recreate(database_url)
    migrate(database_url)
    with ExitStack() as stack:
        server, target = start_billing_server(
            database_url, SERVER_ENV, stripe_api_base=stripe_api_base
        )
        stack.callback(server.stop)
        gateway, port = _start_gateway(target)
        stack.callback(gateway.stop)
        yield WebhookStack(database_url, server, gateway, port)


def _start_gateway(billing_target: str) -> tuple[Process, int]:
    port = free_port()
    env = {
        "PAYMENTSVC_BILLING_TOKEN": token("webhook-gateway", [Scope.INGEST]),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PAYMENTSVC_BILLING_TARGET": billing_target,
        "PAYMENTSVC_GATEWAY_HOST": "127.0.0.1",
        "PAYMENTSVC_GATEWAY_PORT": str(port),
    }
    process = Process.script("webhook-gateway", env)
    try:
        wait_until(lambda: process.running() and listening(port), 30, "webhook-gateway")
    except BaseException:
        process.stop()
        raise
    return process, port


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
