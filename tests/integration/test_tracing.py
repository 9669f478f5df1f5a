"""One webhook is one trace, and so is one client call (in-memory exporter)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from billing_client import BillingClient
from billing_server.bootstrap import bootstrap
from billing_server.config import Settings
from billing_server.entrypoints.event_applier import EventApplier
from billing_server.entrypoints.grpc_server import create_server
from billing_server.entrypoints.metrics import ServerMetrics
from billing_server.entrypoints.prometheus_telemetry import ServiceTelemetry
from billing_server.entrypoints.serve import pipeline
from paymentsvc_observability.tracing import configure_tracing
from tests import stripe_payloads
from tests.e2e.services import free_port, wait_until
from tests.fakes import FakeStripeGateway
from tests.signing import signature_header
from webhook_gateway.app import create_app
from webhook_gateway.config import GatewaySettings

pytestmark = pytest.mark.integration

SECRET = "whsec_tracing"


@dataclass(frozen=True)
class Traced:
    exporter: InMemorySpanExporter
    server_target: str
    gateway_url: str

    def spans(self) -> list[ReadableSpan]:
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        provider.force_flush()
        return list(self.exporter.get_finished_spans())


@pytest.fixture(scope="module")
def traced(database_url: str) -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    configure_tracing("tests", exporter=exporter)
    settings = Settings.from_env(
        {"SQLALCHEMY_DATABASE_URI": database_url, "STRIPE_WEBHOOK_SECRET": SECRET}
    )
    metrics = ServerMetrics.create()
    app = bootstrap(settings, stripe=FakeStripeGateway(), telemetry=ServiceTelemetry(metrics, True))
    running = create_server(app.deps, "127.0.0.1:0", 4, pipeline(settings, metrics, tracing=True))
    applier = EventApplier(app.deps, app.events_due, threads=1)
    applier.start()
    target = f"127.0.0.1:{running.port}"

    port = free_port()
    gateway_settings = GatewaySettings.from_env(
        {"STRIPE_WEBHOOK_SECRET": SECRET, "PAYMENTSVC_BILLING_TARGET": target}
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(gateway_settings), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{url}/healthz").is_success, 10, "gateway")
    yield Traced(exporter, target, url)
    server.should_exit = True
    thread.join(10)
    running.server.stop(None)
    applier.stop()
    app.close()


def by_name(spans: list[ReadableSpan], trace_id: int) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans if s.context is not None and s.context.trace_id == trace_id}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_one_webhook_is_one_trace(traced: Traced) -> None:
    account = f"acct_trace_{uuid.uuid4().hex[:8]}"
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    payload = stripe_payloads.event(
        "customer.subscription.created",
        stripe_payloads.subscription(
            f"sub_{account}", f"cus_{account}", period_start=created, account_id=account
        ),
        created,
    )
    response = httpx.post(
        f"{traced.gateway_url}/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": signature_header(payload, SECRET)},
        timeout=10,
    )
    # Stored at once; applied just after, by the applier, in the same trace.
    assert response.json()["outcome"] == "stored"
    root = next(s for s in traced.spans() if s.name == "POST /stripe/webhook")
    assert root.context is not None
    trace_id = root.context.trace_id
    wait_until(
        lambda: "apply customer.subscription.created" in by_name(traced.spans(), trace_id),
        10,
        "the event's application to join its trace",
    )
    spans = by_name(traced.spans(), trace_id)
    forward = spans["forward IngestEvent"]
    ingest = spans["billing.v1.WebhookIngestService/IngestEvent"]
    applied = spans["apply customer.subscription.created"]
    assert forward.context is not None
    assert ingest.context is not None
    assert parent_of(forward) == root.context.span_id
    assert parent_of(ingest) == forward.context.span_id  # across the gRPC hop
    assert parent_of(applied) == ingest.context.span_id
    assert ingest.attributes is not None
    assert ingest.attributes["rpc.grpc.status_code"] == 0
    assert applied.attributes is not None
    assert applied.attributes["stripe.event_type"] == "customer.subscription.created"


def test_a_client_call_joins_the_callers_trace(traced: Traced) -> None:
    tracer = trace.get_tracer("a-calling-service")
    with (
        tracer.start_as_current_span("handle a request") as caller,
        BillingClient(traced.server_target, service_name="caller", insecure=True) as client,
    ):
        assert client.check_plan("acct_traced", plan="free").allowed
    caller_context = caller.get_span_context()
    spans = by_name(traced.spans(), caller_context.trace_id)
    check = spans["billing.v1.BillingService/CheckPlan"]
    assert parent_of(check) == caller_context.span_id


def test_no_span_attribute_carries_personal_data(traced: Traced) -> None:
    # Its own calls, with an account id and an email to leak: the test
    # means something when it runs alone.
    account = f"acct_private_{uuid.uuid4().hex[:8]}"
    email = f"private.{uuid.uuid4().hex[:8]}@example.com"
    tracer = trace.get_tracer("a-calling-service")
    with (
        tracer.start_as_current_span("handle a request") as caller,
        BillingClient(traced.server_target, service_name="caller", insecure=True) as client,
    ):
        client.create_checkout(account, "pro", customer_email=email)
        assert client.check_plan(account, plan="free").allowed
    trace_id = caller.get_span_context().trace_id
    spans = [s for s in traced.spans() if s.context is not None and s.context.trace_id == trace_id]
    assert {
        "billing.v1.BillingService/CreateCheckout",
        "billing.v1.BillingService/CheckPlan",
    } <= {span.name for span in spans}
    for span in spans:
        for key, attribute in (span.attributes or {}).items():
            text = str(attribute)
            assert "@" not in text, (span.name, key)
            assert account not in text, (span.name, key)
            assert "acct_" not in text, (span.name, key)
