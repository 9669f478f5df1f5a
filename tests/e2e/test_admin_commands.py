"""billing-admin against the emulator: preflight, webhook setup, migrations, tokens."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
import stripe
from sqlalchemy import select

from billing.v1 import webhook_ingest_pb2, webhook_ingest_pb2_grpc
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import StripeEventRow
from billing_server.adapters.tokens import TokenVerifier
from billing_server.domain.callers import Scope
from billing_server.domain.events import HANDLED_TYPES
from stripe_emulator.testing import EmulatorControl
from tests import stripe_payloads
from tests.e2e.conftest import (
    E2E_JWT_KEY,
    E2E_WEBHOOK_SECRETS,
    BillingServer,
    Emulator,
    server_env,
    token,
)
from tests.e2e.services import free_port, run_script, wait_until
from tests.signing import signature_header

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path: Path, emulator: Emulator) -> dict[str, str]:
    fresh = server_env(f"sqlite:///{tmp_path / 'admin.db'}", emulator, free_port())
    assert run_script(["billing-admin", "migrate"], fresh).returncode == 0
    return fresh


def test_preflight_reports_each_check_and_fails_until_all_pass(env: dict[str, str]) -> None:
    url = f"https://billing.example/{uuid.uuid4().hex[:8]}/stripe/webhook"
    before = run_script(["billing-admin", "preflight", "--webhook-url", url], env)
    assert before.returncode == 1
    assert "[PASS] database reachable and migrated to head" in before.stdout
    assert "[PASS] Stripe reachable with this key: test mode" in before.stdout
    assert "[FAIL] a webhook endpoint receives the six events" in before.stdout
    # A development configuration is not fit for production, and says why.
    assert "[FAIL] configuration is fit for production" in before.stdout
    assert "SQLite" in before.stdout

    setup = run_script(["billing-admin", "webhook", "setup", "--url", url], env)
    assert setup.returncode == 0, setup.stderr
    assert "signing secret (store it as STRIPE_WEBHOOK_SECRET): whsec_" in setup.stdout
    # Pinned to the version the stripe library (and so the service) reads.
    assert f"(API {stripe.api_version})" in setup.stdout
    again = run_script(["billing-admin", "webhook", "setup", "--url", url], env)
    assert "nothing to do" in again.stdout
    assert "whsec_" not in again.stdout

    assert run_script(["billing-admin", "catalog", "sync"], env).returncode == 0
    after = run_script(["billing-admin", "preflight", "--webhook-url", url], env)
    assert "[PASS] a webhook endpoint receives the six events" in after.stdout
    assert f"{url} ({stripe.api_version})" in after.stdout
    assert "[PASS] every catalogue price exists in Stripe" in after.stdout


def test_the_server_refuses_production_with_a_development_configuration(
    env: dict[str, str],
) -> None:
    development = {k: v for k, v in env.items() if k != "STRIPE_WEBHOOK_SECRET"}
    result = run_script(["billing-server"], {**development, "PAYMENTSVC_ENV": "production"})
    assert result.returncode == 2
    assert "refusing to start in production" in result.stderr
    for named in ("SQLite", "SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "JWT_SECRET_KEY"):
        assert named in result.stderr


def test_migrations_roll_back_and_forward(env: dict[str, str]) -> None:
    back = run_script(["billing-admin", "migrate", "--revision", "0001"], env)
    assert back.returncode == 0, back.stderr
    assert "migrated to 0001" in back.stdout
    behind = run_script(["billing-admin", "schema-status"], env)
    assert behind.returncode == 1
    forward = run_script(["billing-admin", "migrate"], env)
    assert forward.returncode == 0
    assert run_script(["billing-admin", "schema-status"], env).returncode == 0


def test_issue_token_mints_what_the_server_accepts(env: dict[str, str]) -> None:
    result = run_script(
        [
            "billing-admin",
            "issue-token",
            "--service",
            "orders",
            "--scope",
            "read,write",
            "--ttl",
            "2h",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    identity = TokenVerifier([E2E_JWT_KEY], "paymentsvc", 0).verify(result.stdout.strip())
    assert identity.service == "orders"
    assert identity.scopes == {Scope.READ, Scope.WRITE}
    refused = run_script(["billing-admin", "issue-token", "--service", "x", "--scope", "root"], env)
    assert refused.returncode == 2


def test_reconcile_reports_drift_then_repairs_it(env: dict[str, str], emulator: Emulator) -> None:
    client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": emulator.url})
    account = f"acct_reconcile_{uuid.uuid4().hex[:8]}"
    customer = client.v1.customers.create({"metadata": {"account_id": account}})
    price = client.v1.prices.list({"lookup_keys": ["paymentsvc_pro_monthly"]}).data[0].id
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "client_reference_id": account,
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": "https://app.example/done",
        }
    )
    emulator.complete_checkout(session.id)
    subscription = client.v1.checkout.sessions.retrieve(session.id).subscription

    found = run_script(["billing-admin", "reconcile", "--rps", "1000"], env)
    assert found.returncode == 1
    assert f"missing: {subscription}" in found.stdout

    fixed = run_script(["billing-admin", "reconcile", "--fix", "--rps", "1000"], env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    again = run_script(["billing-admin", "reconcile", "--rps", "1000"], env)
    assert again.returncode == 0
    assert "0 missing, 0 different" in again.stdout


def test_events_retry_applies_what_failed_and_cleanup_reports(
    billing_server: BillingServer, emulator: Emulator
) -> None:
    control = EmulatorControl(emulator.url)
    client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": emulator.url})
    account = f"acct_retry_{uuid.uuid4().hex[:8]}"
    customer = client.v1.customers.create({"metadata": {"account_id": account}})
    price = client.v1.prices.list({"lookup_keys": ["paymentsvc_pro_monthly"]}).data[0].id
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "client_reference_id": account,
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": "https://app.example/done",
        }
    )
    emulator.complete_checkout(session.id)
    subscription = str(client.v1.checkout.sessions.retrieve(session.id).subscription)
    payload = stripe_payloads.event(
        "invoice.payment_succeeded",
        stripe_payloads.invoice(subscription, customer.id),
        datetime.now(UTC),
    )
    event_id = json.loads(payload)["id"]
    engine = make_engine(billing_server.env["SQLALCHEMY_DATABASE_URI"])

    def status() -> str | None:
        with engine.connect() as connection:
            found = connection.scalar(
                select(StripeEventRow.status).where(StripeEventRow.event_id == event_id)
            )
            return str(found) if found is not None else None

    control.inject_fault("error", count=-1, routes=["GET /v1/subscriptions/{id}"], status=503)
    try:
        with grpc.insecure_channel(billing_server.target) as channel:
            ingest = webhook_ingest_pb2_grpc.WebhookIngestServiceStub(channel)
            stored = ingest.IngestEvent(
                webhook_ingest_pb2.IngestEventRequest(
                    payload=payload,
                    stripe_signature=signature_header(payload, E2E_WEBHOOK_SECRETS[0]),
                ),
                metadata=(("authorization", f"Bearer {token('gateway', [Scope.INGEST])}"),),
                timeout=10,
            )
        # Stored whatever Stripe does: applying it is what fails.
        assert stored.outcome == webhook_ingest_pb2.INGEST_OUTCOME_STORED
        wait_until(lambda: status() == "failed", 20, "the application to fail")
    finally:
        control.clear_faults()
        control.close()

    try:
        retried = run_script(
            ["billing-admin", "events", "retry", "--id", event_id], billing_server.env
        )
        assert "retried 1: applied 1" in retried.stdout, retried.stdout + retried.stderr
        assert status() == "processed"
    finally:
        engine.dispose()

    cleaned = run_script(["billing-admin", "cleanup"], billing_server.env)
    assert cleaned.returncode == 0
    assert "processed event(s) older than 30 days" in cleaned.stdout


def test_an_endpoint_of_another_api_version_is_reported_not_changed(
    env: dict[str, str], emulator: Emulator
) -> None:
    url = f"https://billing.example/{uuid.uuid4().hex[:8]}/stripe/webhook"
    client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": emulator.url})
    client.v1.webhook_endpoints.create(
        {
            "url": url,
            # The params type lists Stripe's event names as literals.
            "enabled_events": cast(Any, sorted(HANDLED_TYPES)),
            "api_version": "2024-06-20",
        }
    )
    setup = run_script(["billing-admin", "webhook", "setup", "--url", url], env)
    assert setup.returncode == 1
    assert f"rendered in API version 2024-06-20, not {stripe.api_version}" in setup.stdout
    preflight = run_script(["billing-admin", "preflight", "--webhook-url", url], env)
    assert "[FAIL] a webhook endpoint receives the six events" in preflight.stdout
    assert "2024-06-20" in preflight.stdout
