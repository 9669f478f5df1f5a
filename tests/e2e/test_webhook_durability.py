"""Stored means kept: a crash after the acknowledgement loses nothing, and
replicas sharing one inbox apply every event exactly once."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import stripe
from sqlalchemy import select

from billing.v1 import billing_pb2, billing_pb2_grpc, webhook_ingest_pb2, webhook_ingest_pb2_grpc
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import StripeEventRow, SubscriptionRow
from billing_server.domain.callers import Scope
from stripe_emulator.testing import EmulatorControl
from tests import stripe_payloads
from tests.conftest import TEST_DATABASE_ENV, fresh_database
from tests.e2e.conftest import (
    E2E_WEBHOOK_SECRETS,
    BillingServer,
    Emulator,
    server_env,
    start_server,
    token,
)
from tests.e2e.services import BearerToken, free_port, wait_until
from tests.e2e.stripe_side import customer_named, paid_checkout
from tests.signing import signature_header

pytestmark = pytest.mark.e2e


def ingest(server: BillingServer, payload: bytes) -> int:
    with grpc.insecure_channel(server.target) as channel:
        stub = webhook_ingest_pb2_grpc.WebhookIngestServiceStub(channel)
        answer = stub.IngestEvent(
            webhook_ingest_pb2.IngestEventRequest(
                payload=payload,
                stripe_signature=signature_header(payload, E2E_WEBHOOK_SECRETS[0]),
            ),
            metadata=(("authorization", f"Bearer {token('gateway', [Scope.INGEST])}"),),
            timeout=10,
        )
    return int(answer.outcome)


def rows(database_url: str) -> dict[str, tuple[str, str | None, int]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                select(
                    StripeEventRow.event_id,
                    StripeEventRow.status,
                    StripeEventRow.outcome,
                    StripeEventRow.attempts,
                )
            ).all()
    finally:
        engine.dispose()
    return {str(e): (str(s), o, int(a)) for e, s, o, a in found}


def test_an_event_acknowledged_before_a_crash_is_applied_after_the_restart(
    tmp_path_factory: pytest.TempPathFactory, emulator: Emulator, e2e_logs: Path, account_id: str
) -> None:
    with fresh_database(tmp_path_factory) as database_url:
        # No applier: the acknowledgement is all that happens before the crash.
        env = server_env(database_url, emulator, free_port()) | {"PAYMENTSVC_APPLIER_THREADS": "0"}
        server = start_server(env, e2e_logs)
        now = datetime.now(UTC).replace(microsecond=0)
        suffix = uuid.uuid4().hex[:10]
        payload = stripe_payloads.event(
            "customer.subscription.created",
            stripe_payloads.subscription(
                f"sub_{suffix}", f"cus_{suffix}", period_start=now, account_id=account_id
            ),
            now,
        )
        try:
            assert ingest(server, payload) == webhook_ingest_pb2.INGEST_OUTCOME_STORED
            event_id = json.loads(payload)["id"]
            assert rows(database_url)[event_id][0] == "received"
        finally:
            server.process.popen.kill()
            server.process.popen.wait(10)
            server.process.stop()

        restarted = start_server(env | {"PAYMENTSVC_APPLIER_THREADS": "2"}, e2e_logs)
        try:
            with grpc.insecure_channel(restarted.target) as channel:
                stub = billing_pb2_grpc.BillingServiceStub(
                    grpc.intercept_channel(channel, BearerToken(token()))
                )
                request = billing_pb2.CheckPlanRequest(account_id=account_id, plan="pro")
                wait_until(
                    lambda: stub.CheckPlan(request, timeout=5).allowed,
                    20,
                    "the event stored before the crash to apply",
                )
            assert rows(database_url)[event_id][:2] == ("processed", "applied")
        finally:
            assert restarted.process.stop() == 0


def paid_subscription(client: stripe.StripeClient, control: EmulatorControl) -> tuple[str, str]:
    account = f"acct_rep_{uuid.uuid4().hex[:10]}"
    return account, paid_checkout(client, control, account, customer_named(client, account))


def as_json(obj: Any) -> dict[str, Any]:
    return dict(json.loads(json.dumps(obj.to_dict(), default=str)))


@pytest.mark.skipif(
    not os.environ.get(TEST_DATABASE_ENV), reason="replicas share a PostgreSQL inbox"
)
def test_two_replicas_apply_every_event_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, emulator: Emulator, e2e_logs: Path
) -> None:
    rng = random.Random(5)
    client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": emulator.url})
    control = EmulatorControl(emulator.url)
    statuses = ["active", "past_due", "unpaid", "active", "past_due", "active"]
    payloads: list[bytes] = []
    truth: dict[str, str] = {}
    base = int(time.time()) + 5
    for _ in range(12):
        account, subscription_id = paid_subscription(client, control)
        final = rng.choice(["active", "past_due", "unpaid"])
        control.update_subscription(subscription_id, status=final)
        current = as_json(client.v1.subscriptions.retrieve(subscription_id))
        truth[account] = final
        customer = str(current["customer"])
        for step, status in enumerate(statuses):
            # Steps 2 and 3 share a second: that one needs Stripe.
            second = base + step - (1 if step == 3 else 0)
            obj = {**current, "status": status}
            payloads.append(
                stripe_payloads.event(
                    "customer.subscription.updated", obj, datetime.fromtimestamp(second, UTC)
                )
            )
        payloads.append(
            stripe_payloads.event(
                "invoice.payment_succeeded",
                stripe_payloads.invoice(subscription_id, customer),
                datetime.fromtimestamp(base + 2, UTC),
            )
        )
        # The newest, alone in its second, as Stripe holds it.
        payloads.append(
            stripe_payloads.event(
                "customer.subscription.updated",
                current,
                datetime.fromtimestamp(base + len(statuses) + 1, UTC),
            )
        )
    control.close()
    deliveries = payloads + rng.sample(payloads, len(payloads) // 5)  # some twice
    rng.shuffle(deliveries)

    with fresh_database(tmp_path_factory) as database_url:
        replicas = [
            start_server(server_env(database_url, emulator, free_port()), e2e_logs)
            for _ in range(2)
        ]
        try:
            with ThreadPoolExecutor(max_workers=16) as pool:
                outcomes = list(
                    pool.map(
                        lambda n: ingest(replicas[n % 2], deliveries[n]), range(len(deliveries))
                    )
                )
            assert outcomes.count(webhook_ingest_pb2.INGEST_OUTCOME_STORED) == len(payloads)

            def settled() -> bool:
                return all(
                    s not in ("received", "failed") for s, _, _ in rows(database_url).values()
                )

            wait_until(settled, 60, "both replicas to apply every event")
            found = rows(database_url)
            assert {s for s, _, _ in found.values()} == {"processed"}
            assert {a for _, _, a in found.values()} == {1}, "an event was handled twice"
            engine = make_engine(database_url)
            try:
                with engine.connect() as connection:
                    recorded = dict(
                        connection.execute(
                            select(SubscriptionRow.account_id, SubscriptionRow.status)
                        ).all()
                    )
            finally:
                engine.dispose()
            assert recorded == truth
        finally:
            for replica in replicas:
                replica.process.stop()
