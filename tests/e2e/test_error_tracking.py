"""Unexpected errors reach Sentry (a local endpoint posing as the DSN) with
the environment, the release, the request id and the trace id, and without
any of the secrets or personal data the process holds."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from billing.v1 import billing_pb2, billing_pb2_grpc
from tests.e2e.conftest import (
    E2E_JWT_KEY,
    E2E_WEBHOOK_SECRETS,
    Emulator,
    gateway_env,
    server_env,
    start_gateway,
    start_server,
    token,
)
from tests.e2e.sentry_collector import SentryCollector, running_collector
from tests.e2e.services import BearerToken, free_port
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

STRIPE_KEY = "sk_test_e2eSentryScrubbing0123456789"
SERVICE_SECRET = "service-secret-for-the-sentry-test-0123456789"
EMAIL = "jane.customer@example.org"
TRACE_ID = uuid.uuid4().hex
TRACEPARENT = f"00-{TRACE_ID}-{uuid.uuid4().hex[:16]}-01"


@contextmanager
def broken_stripe() -> Iterator[str]:
    """A "Stripe" that answers every request 200 with an empty object: what
    the service reads from it is missing, an error nobody planned for."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def collector() -> Iterator[SentryCollector]:
    with running_collector() as running:
        yield running


def secret_values(bearer: str) -> list[str]:
    return [STRIPE_KEY, SERVICE_SECRET, E2E_JWT_KEY, *E2E_WEBHOOK_SECRETS, bearer, EMAIL]


def assert_none_leaked(collector: SentryCollector, secrets: list[str]) -> None:
    everything = b"\n".join(collector.raw()).decode()
    leaked = [secret for secret in secrets if secret in everything]
    assert leaked == []


def test_an_unexpected_error_in_a_servicer_arrives_scrubbed_and_tagged(
    collector: SentryCollector, emulator: Emulator, database_url: str, e2e_logs: Path
) -> None:
    bearer = token("orders")
    with broken_stripe() as stripe_url:
        env = {
            **server_env(database_url, emulator, free_port()),
            "PAYMENTSVC_STRIPE_API_BASE": stripe_url,
            "STRIPE_API_KEY": STRIPE_KEY,
            "SECRET_KEY": SERVICE_SECRET,
            "SENTRY_DSN": collector.dsn,
            "SENTRY_ENVIRONMENT": "e2e",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        }
        server = start_server(env, e2e_logs)
        try:
            with grpc.insecure_channel(server.target) as channel:
                stub = billing_pb2_grpc.BillingServiceStub(
                    grpc.intercept_channel(channel, BearerToken(bearer))
                )
                request_id = f"sentry-{uuid.uuid4().hex}"
                with pytest.raises(grpc.RpcError) as failed:
                    stub.CreateCheckout(
                        billing_pb2.CreateCheckoutRequest(
                            account_id=f"acct_{uuid.uuid4().hex[:12]}",
                            plan="pro",
                            customer_email=EMAIL,
                            idempotency_key=uuid.uuid4().hex,
                        ),
                        metadata=(("x-request-id", request_id), ("traceparent", TRACEPARENT)),
                        timeout=15,
                    )
                assert failed.value.code() is grpc.StatusCode.INTERNAL
                event = collector.wait_for_event()
        finally:
            server.process.stop()

    assert event["exception"]["values"][-1]["type"] == "AttributeError"
    assert event["environment"] == "e2e"
    assert event["release"] == f"paymentsvc@{metadata.version('paymentsvc')}"
    tags = event["tags"]
    assert tags["request_id"] == request_id
    assert tags["trace_id"] == TRACE_ID
    assert tags["service"] == "billing-server"
    assert_none_leaked(collector, secret_values(bearer))


def test_the_gateway_reports_an_event_it_could_not_store(
    collector: SentryCollector, e2e_logs: Path
) -> None:
    # No server behind it: the gateway logs the failure as an error.
    env = {
        **gateway_env(f"127.0.0.1:{free_port()}", free_port(), E2E_WEBHOOK_SECRETS),
        "SENTRY_DSN": collector.dsn,
        "PAYMENTSVC_ENV": "staging",
    }
    gateway = start_gateway(env, e2e_logs)
    payload = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": "customer.updated",
            "created": 1_800_000_000,
            "data": {"object": {"id": "cus_sentry", "object": "customer", "email": EMAIL}},
        }
    ).encode()
    signature = signature_header(payload, E2E_WEBHOOK_SECRETS[0])
    request_id = f"sentry-{uuid.uuid4().hex}"
    try:
        answer = httpx.post(
            gateway.webhook_url,
            content=payload,
            headers={"Stripe-Signature": signature, "X-Request-Id": request_id},
            timeout=30,
        )
        assert answer.status_code == 503
        event = collector.wait_for_event()
    finally:
        gateway.process.stop()

    assert event["environment"] == "staging"
    assert event["tags"]["request_id"] == request_id
    assert event["tags"]["service"] == "webhook-gateway"
    bearer = env["PAYMENTSVC_BILLING_TOKEN"]
    assert_none_leaked(collector, [*secret_values(bearer), signature.split("v1=")[1]])
