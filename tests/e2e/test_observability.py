"""Metrics, request ids and logs as an operator sees them after a scripted flow."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import SubscriptionRow
from tests import stripe_payloads
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
from tests.e2e.services import BearerToken, free_port, wait_until
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

SECRET = "whsec_observability"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Observed:
    server: BillingServer
    gateway: Gateway
    stub: billing_pb2_grpc.BillingServiceStub

    def scrape(self, url: str) -> Samples:
        samples: Samples = {}
        for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def observed_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Its own: exact counts need the events to be applied by this server alone."""
    with fresh_database(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def observed(observed_database: str, emulator: Emulator, e2e_logs: Path) -> Iterator[Observed]:
    env = server_env(observed_database, emulator, free_port())
    env |= {
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "PAYMENTSVC_LOG_FORMAT": "json",
        "PAYMENTSVC_METRICS_DB_CACHE": "0",
        "PAYMENTSVC_RATE_LIMITS": "default=100/100,CheckPlan=100/100",
        # Every CheckPlan on the access log, so that a given call's line is there.
        "PAYMENTSVC_ACCESS_LOG_SAMPLE": "1",
    }
    server = start_server(env, e2e_logs)
    gateway_settings = gateway_env(server.target, free_port(), (SECRET,))
    gateway_settings["PAYMENTSVC_LOG_FORMAT"] = "json"
    gateway = start_gateway(gateway_settings, e2e_logs)
    with grpc.insecure_channel(server.target) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(
            grpc.intercept_channel(channel, BearerToken(token()))
        )
        yield Observed(server, gateway, stub)
    gateway.process.stop()
    server.process.stop()


def deliver(observed: Observed, payload: bytes, secret: str = SECRET) -> httpx.Response:
    return httpx.post(
        observed.gateway.webhook_url,
        content=payload,
        headers={
            "Stripe-Signature": signature_header(payload, secret),
            "X-Request-Id": "gw-req-42",
        },
        timeout=10,
    )


def test_a_scripted_flow_shows_exact_counts(
    observed: Observed, emulator: Emulator, account_id: str
) -> None:
    stub, server_metrics = observed.stub, observed.server.metrics_url
    gateway_metrics = f"{observed.gateway.url}/metrics"

    for _ in range(3):
        stub.CheckPlan(billing_pb2.CheckPlanRequest(account_id=account_id, plan="pro"), timeout=5)
    with pytest.raises(grpc.RpcError):
        stub.CheckPlan(billing_pb2.CheckPlanRequest(account_id=account_id, plan="gold"), timeout=5)

    key = uuid.uuid4().hex
    checkout = billing_pb2.CreateCheckoutRequest(
        account_id=account_id, plan="pro", idempotency_key=key
    )
    session = stub.CreateCheckout(checkout, timeout=10)
    assert stub.CreateCheckout(checkout, timeout=10) == session  # replayed
    emulator.complete_checkout(session.session_id)
    subscription = stub.ConfirmCheckout(
        billing_pb2.ConfirmCheckoutRequest(session_id=session.session_id), timeout=10
    ).subscription

    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    other = f"acct_obs_{uuid.uuid4().hex[:8]}"
    event = stripe_payloads.event(
        "customer.subscription.created",
        stripe_payloads.subscription(
            f"sub_{other}", f"cus_{other}", period_start=created, account_id=other
        ),
        created,
    )
    assert deliver(observed, event).json()["outcome"] == "stored"
    assert deliver(observed, event).json()["outcome"] == "duplicate"
    assert deliver(observed, event, secret="whsec_wrong").status_code == 400
    failure = stripe_payloads.event(
        "invoice.payment_failed",
        stripe_payloads.invoice(
            subscription.stripe_subscription_id, subscription.stripe_customer_id
        ),
        datetime.now(UTC),
    )
    assert deliver(observed, failure).json()["outcome"] == "stored"
    wait_until(
        lambda: (
            value(observed.scrape(server_metrics), "paymentsvc_webhook_apply_lag_seconds_count")
            == 2
        ),
        20,
        "both stored events to be applied",
    )

    stub.CancelSubscription(
        billing_pb2.CancelSubscriptionRequest(
            account_id=account_id, timing=billing_pb2.CANCELLATION_TIMING_IMMEDIATELY
        ),
        timeout=10,
    )

    s = observed.scrape(server_metrics)
    rpc = {"grpc_service": "billing.v1.BillingService"}
    assert (
        value(
            s,
            "paymentsvc_grpc_server_handled_total",
            grpc_method="CheckPlan",
            grpc_code="OK",
            **rpc,
        )
        == 3
    )
    assert (
        value(
            s,
            "paymentsvc_grpc_server_handled_total",
            grpc_method="CheckPlan",
            grpc_code="NOT_FOUND",
            **rpc,
        )
        == 1
    )
    assert (
        value(
            s,
            "paymentsvc_grpc_server_handled_total",
            grpc_method="CreateCheckout",
            grpc_code="OK",
            **rpc,
        )
        == 2
    )
    assert (
        value(s, "paymentsvc_grpc_server_handling_seconds_count", grpc_method="CheckPlan", **rpc)
        == 4
    )
    assert value(s, "paymentsvc_idempotent_replays_total", grpc_method="CreateCheckout") == 1
    assert (
        value(
            s, "paymentsvc_stripe_requests_total", operation="create checkout session", outcome="ok"
        )
        == 1
    )
    assert (
        value(s, "paymentsvc_stripe_requests_total", operation="create customer", outcome="ok") == 1
    )
    assert (
        value(s, "paymentsvc_stripe_requests_total", operation="cancel subscription", outcome="ok")
        == 1
    )
    assert (
        value(
            s,
            "paymentsvc_webhook_events_total",
            event_type="customer.subscription.created",
            outcome="applied",
        )
        == 1
    )
    assert value(s, "paymentsvc_webhook_deliveries_total", outcome="stored") == 2
    assert value(s, "paymentsvc_webhook_deliveries_total", outcome="duplicate") == 1
    assert value(s, "paymentsvc_webhook_events_pending", status="received") == 0
    assert value(s, "paymentsvc_webhook_oldest_pending_age_seconds") == 0
    assert (
        value(
            s,
            "paymentsvc_webhook_events_total",
            event_type="invoice.payment_failed",
            outcome="applied",
        )
        == 1
    )
    assert value(s, "paymentsvc_payment_failures_total") == 1
    assert value(s, "paymentsvc_subscription_cancellations_total", plan="pro") == 1
    assert value(s, "paymentsvc_stripe_circuit_state") == 0

    g = observed.scrape(gateway_metrics)
    assert value(g, "paymentsvc_gateway_webhook_requests_total", status_code="200") == 3
    assert value(g, "paymentsvc_gateway_webhook_requests_total", status_code="400") == 1
    assert value(g, "paymentsvc_gateway_signature_failures_total") == 1
    assert value(g, "paymentsvc_gateway_forward_duration_seconds_count") == 3


def test_the_subscription_gauge_matches_the_database(observed: Observed) -> None:
    samples = observed.scrape(observed.server.metrics_url)
    gauge = {
        (dict(labels)["plan"], dict(labels)["status"]): v
        for (name, labels), v in samples.items()
        if name == "paymentsvc_subscriptions"
    }
    engine = make_engine(observed.server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(SubscriptionRow.plan, SubscriptionRow.status, func.count()).group_by(
                    SubscriptionRow.plan, SubscriptionRow.status
                )
            ).all()
    finally:
        engine.dispose()
    assert gauge == {(plan or "unknown", status): float(n) for plan, status, n in rows}
    assert gauge  # the flows of this suite created some


ALLOWED_LABELS = {
    "grpc_service", "grpc_method", "grpc_code", "operation", "outcome", "event_type", "plan",
    "status", "state", "status_code", "kind", "le", "quantile", "reason",
}  # fmt: skip
UNBOUNDED = re.compile(
    r"\b(acct|cus|sub|evt|cs_test|in|si|price|req|gw-req)_[A-Za-z0-9]{6,}|@|[0-9a-f]{16}"
)


def test_no_label_has_unbounded_values(observed: Observed) -> None:
    for url in (observed.server.metrics_url, f"{observed.gateway.url}/metrics"):
        for (name, labels), _ in observed.scrape(url).items():
            for label, label_value in labels:
                assert label in ALLOWED_LABELS, (name, label)
                if label not in ("le", "quantile"):
                    assert not UNBOUNDED.search(label_value), (name, label, label_value)


def test_a_request_id_comes_back_and_is_in_the_logs(observed: Observed, account_id: str) -> None:
    request_id = f"req-e2e-{uuid.uuid4().hex[:8]}"
    _, call = observed.stub.CheckPlan.with_call(
        billing_pb2.CheckPlanRequest(account_id=account_id, plan="free"),
        metadata=(("x-request-id", request_id),),
        timeout=5,
    )
    assert dict(call.trailing_metadata())["x-request-id"] == request_id
    _, generated = observed.stub.CheckPlan.with_call(
        billing_pb2.CheckPlanRequest(account_id=account_id, plan="free"), timeout=5
    )
    assert len(dict(generated.trailing_metadata())["x-request-id"]) == 32
    with pytest.raises(grpc.RpcError) as refused:
        observed.stub.CheckPlan(
            billing_pb2.CheckPlanRequest(account_id=account_id, plan="gold"),
            metadata=(("x-request-id", request_id),),
            timeout=5,
        )
    error: Any = refused.value  # a grpc.Call as well
    assert dict(error.trailing_metadata())["x-request-id"] == request_id

    lines = [
        json.loads(line)
        for line in observed.server.process.log().splitlines()
        if line.startswith("{")
    ]
    ours = [line for line in lines if line.get("request_id") == request_id]
    assert ours, "the request id is on the access-log line"
    assert ours[0]["grpc_method"] == "CheckPlan"
    assert ours[0]["grpc_code"] == "OK"
    assert ours[0]["caller"] == "e2e-tests"
    assert "duration_ms" in ours[0]


def test_the_gateways_request_id_reaches_the_server(observed: Observed) -> None:
    created = datetime.now(UTC).replace(microsecond=0)
    payload = stripe_payloads.event(
        "customer.created", {"id": "cus_x", "object": "customer"}, created
    )
    response = deliver(observed, payload)
    assert response.headers["X-Request-Id"] == "gw-req-42"
    server_lines = [
        json.loads(line)
        for line in observed.server.process.log().splitlines()
        if line.startswith("{")
    ]
    assert any(
        line.get("request_id") == "gw-req-42" and line.get("grpc_method") == "IngestEvent"
        for line in server_lines
    )
