"""Starting billing-server for a benchmark, and the service tokens it accepts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench._processes import Process, free_port, wait_until
from bench._webhook_events import WEBHOOK_SECRET
from billing_server.adapters.tokens import issue_token
from billing_server.domain.callers import Scope

JWT_KEY = "bench-only-jwt-signing-key-0123456789abcdef"
# High enough that the limiter never refuses a benchmark's call.
NO_THROTTLE = "default=1000000/1000000,CheckPlan=1000000/1000000"


def token(service: str, scopes: Iterable[Scope]) -> str:
    return issue_token(JWT_KEY, service, scopes, timedelta(hours=2), datetime.now(UTC))


def bearer(scopes: Iterable[Scope]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token('bench', scopes)}"),)


def start_billing_server(
    database_url: str,
    extra_env: Mapping[str, str] | None = None,
    *,
    stripe_api_base: str | None = None,
) -> tuple[Process, str]:
    """billing-server on a free loopback port, ready (its entitlement view
    loaded); (process, target).

    It talks to the Stripe emulator at `stripe_api_base` when given; else to
    a closed port, so that a call to Stripe fails at once and shows up as an
    error where nothing measured should call it.
    """
    target = f"127.0.0.1:{free_port()}"
    env = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "JWT_SECRET_KEY": JWT_KEY,
        "PAYMENTSVC_GRPC_ADDRESS": target,
        "PAYMENTSVC_METRICS_ADDRESS": "",
        "PAYMENTSVC_RATE_LIMITS": NO_THROTTLE,
        "PAYMENTSVC_STRIPE_API_BASE": stripe_api_base or f"http://127.0.0.1:{free_port()}",
        # The server verifies every forwarded delivery's signature itself.
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # No load balancer to wait for when the benchmark stops it.
        "PAYMENTSVC_SHUTDOWN_DELAY": "0",
        # One process unless the benchmark asks for more (it compares both).
        "PAYMENTSVC_GRPC_PROCESSES": "1",
        **(extra_env or {}),
    }
    process = Process.script("billing-server", env)
    try:
        wait_until(lambda: process.running() and _serving(target), 120, "billing-server")
    except BaseException:  # Ctrl-C while it starts, too
        process.stop()
        raise
    return process, target


def _serving(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types omit Check
        answer = health.Check(
            health_pb2.HealthCheckRequest(service="billing.v1.BillingService"), timeout=1
        )
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
