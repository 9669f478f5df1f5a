"""Scheduled reconciliation runs on one replica at a time (PostgreSQL's advisory
locks); what it finds and repairs is tested in tests/unit/test_reconciliation.py."""

from __future__ import annotations

import dataclasses
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from billing_server.bootstrap import Application
from billing_server.domain.entitlements import PlanRequirement
from billing_server.entrypoints.maintenance import ADVISORY_LOCK_KEY, Maintenance
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from billing_server.telemetry_port import NullTelemetry
from tests import stripe_payloads as stripe
from tests.conftest import TEST_DATABASE_ENV
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def stripe_only(fake: FakeStripeGateway, account_id: str, **changes: object) -> str:
    """A subscription Stripe has and the service never heard of."""
    suffix = uuid.uuid4().hex[:10]
    obj = stripe.subscription(
        f"sub_{suffix}", f"cus_{suffix}", period_start=T0, account_id=account_id
    )
    obj.update(changes)
    fake.subscriptions[obj["id"]] = stripe.snapshot(obj)
    return str(obj["id"])


class Recorded(NullTelemetry):
    def __init__(self) -> None:
        self.reports: list[tuple[int, int]] = []

    def reconciled(self, missing: int, different: int) -> None:
        self.reports.append((missing, different))


@pytest.mark.skipif(not os.environ.get(TEST_DATABASE_ENV), reason="advisory locks are PostgreSQL's")
def test_one_replica_at_a_time_runs_the_schedule(
    app: Application, deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str
) -> None:
    stripe_only(fake_stripe, account_id)
    telemetry = Recorded()
    maintenance = Maintenance(
        dataclasses.replace(deps, telemetry=telemetry), app.database.run_alone, 3600
    )
    with app.database.engine.connect() as other_replica:
        assert other_replica.scalar(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
        )
        assert not maintenance.run_once()
        other_replica.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
        other_replica.commit()
    assert maintenance.run_once()
    assert telemetry.reports
    assert check_plan(deps, account_id, PlanRequirement("pro")).decision.allowed
