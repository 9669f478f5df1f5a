"""Stored events applied exactly once, per subscription, newest truth winning."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from billing_server.bootstrap import Application
from billing_server.domain.entitlements import DenialReason, PlanRequirement
from billing_server.domain.errors import Unavailable
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from billing_server.service_layer.event_recovery import (
    event_backlog,
    replay_missed_events,
    retry_events,
)
from billing_server.service_layer.ingest import IngestOutcome
from billing_server.service_layer.webhooks import apply_all_due
from tests import stripe_payloads as stripe
from tests.deliveries import deliver, deliver_and_apply
from tests.fakes import FakeStripeGateway
from tests.integration.deliveries import stored

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def ids() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:12]
    return f"sub_{suffix}", f"cus_{suffix}"


def version(deps: Dependencies, account_id: str) -> int:
    return check_plan(deps, account_id, PlanRequirement("free")).decision.state_version


def test_a_delivery_is_stored_and_applied_after(
    app: Application, deps: Dependencies, account_id: str, ids: tuple[str, str]
) -> None:
    obj = stripe.subscription(*ids, period_start=T0, account_id=account_id)
    payload = stripe.event("customer.subscription.created", obj, T0)
    assert deliver(deps, payload).outcome is IngestOutcome.STORED
    # Stored, not applied: the answer came before any change of state.
    assert stored(app, payload).status == "received"
    assert not check_plan(deps, account_id, PlanRequirement("pro")).decision.allowed

    apply_all_due(deps)
    assert check_plan(deps, account_id, PlanRequirement("pro")).decision.allowed
    row = stored(app, payload)
    assert (row.status, row.outcome, row.attempts) == ("processed", "applied", 1)


def test_a_second_delivery_is_a_duplicate(
    app: Application, deps: Dependencies, account_id: str, ids: tuple[str, str]
) -> None:
    obj = stripe.subscription(*ids, period_start=T0, account_id=account_id)
    payload = stripe.event("customer.subscription.created", obj, T0)
    deliver_and_apply(deps, payload)
    before = version(deps, account_id)
    assert deliver(deps, payload).outcome is IngestOutcome.DUPLICATE
    apply_all_due(deps)
    assert version(deps, account_id) == before
    assert stored(app, payload).attempts == 1


def test_fifty_concurrent_deliveries_store_once_and_apply_once(
    app: Application, deps: Dependencies, account_id: str, ids: tuple[str, str]
) -> None:
    obj = stripe.subscription(*ids, period_start=T0, account_id=account_id)
    payload = stripe.event("customer.subscription.created", obj, T0)
    start = threading.Barrier(50)

    def take_in() -> IngestOutcome:
        start.wait()
        return deliver(deps, payload).outcome

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(lambda _: take_in(), range(50)))
    assert outcomes.count(IngestOutcome.STORED) == 1
    assert outcomes.count(IngestOutcome.DUPLICATE) == 49
    apply_all_due(deps)
    assert version(deps, account_id) == 1
    assert stored(app, payload).attempts == 1


def test_unhandled_types_are_stored_as_ignored(app: Application, deps: Dependencies) -> None:
    payload = stripe.event("customer.created", {"id": "cus_x", "object": "customer"}, T0)
    assert deliver(deps, payload).outcome is IngestOutcome.IGNORED
    row = stored(app, payload)
    assert (row.status, row.outcome) == ("processed", "ignored")


def test_personal_data_is_not_stored(app: Application, deps: Dependencies, account_id: str) -> None:
    session = stripe.checkout_session(
        f"cs_test_{uuid.uuid4().hex[:10]}",
        account_id,
        f"cus_{uuid.uuid4().hex[:10]}",
        f"sub_{uuid.uuid4().hex[:10]}",
    )
    session["customer_details"] = {
        "email": "jane@example.com",
        "name": "Jane Doe",
        "phone": "+1 555 0100",
        "address": {"line1": "1 Main St"},
    }
    session["customer_email"] = "jane@example.com"
    payload = stripe.event("checkout.session.completed", session, T0)
    deliver(deps, payload)
    kept = stored(app, payload).payload
    for personal in ("jane@example.com", "Jane Doe", "555 0100", "Main St"):
        assert personal not in kept
    assert account_id in kept  # what the service reads stays


def test_a_failed_application_is_kept_and_retried(
    app: Application,
    deps: Dependencies,
    fake_stripe: FakeStripeGateway,
    account_id: str,
    ids: tuple[str, str],
) -> None:
    sub_id, customer = ids
    obj = stripe.subscription(sub_id, customer, period_start=T0, account_id=account_id)
    fake_stripe.subscriptions[sub_id] = stripe.snapshot(obj)
    fake_stripe.failures["get_subscription"] = Unavailable("Stripe is down")
    payload = stripe.event("invoice.payment_succeeded", stripe.invoice(sub_id, customer), T0)

    deliver_and_apply(deps, payload)
    row = stored(app, payload)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None
    assert "Stripe is down" in row.last_error
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > deps.clock()  # backs off: not due again at once

    del fake_stripe.failures["get_subscription"]
    apply_all_due(deps)
    assert stored(app, payload).status == "failed"  # still waiting out its backoff
    assert retry_events(deps, event_ids=[row.event_id]) == [row.event_id]
    apply_all_due(deps)
    assert stored(app, payload).status == "processed"
    assert check_plan(deps, account_id, PlanRequirement("pro")).decision.allowed


def test_replay_stores_only_the_events_never_stored(
    app: Application,
    deps: Dependencies,
    fake_stripe: FakeStripeGateway,
    account_id: str,
    ids: tuple[str, str],
) -> None:
    sub_id, customer = ids
    created = stripe.event(
        "customer.subscription.created",
        stripe.subscription(sub_id, customer, period_start=T0, account_id=account_id),
        T0,
    )
    canceled = stripe.event(
        "customer.subscription.deleted",
        stripe.subscription(
            sub_id, customer, status="canceled", period_start=T0, account_id=account_id
        ),
        T0 + timedelta(seconds=30),
    )
    deliver_and_apply(deps, created)  # delivered; the deletion never was
    fake_stripe.events = [(T0, created), (T0 + timedelta(seconds=30), canceled)]

    report = replay_missed_events(deps, since=T0 - timedelta(hours=1))
    assert (report.listed, report.already_stored, report.stored) == (
        2,
        1,
        [json.loads(canceled)["id"]],
    )
    apply_all_due(deps)
    denied = check_plan(deps, account_id, PlanRequirement("pro")).decision
    assert denied.denial_reason is DenialReason.SUBSCRIPTION_CANCELED
    assert replay_missed_events(deps, since=T0 - timedelta(hours=1)).stored == []


def test_the_backlog_counts_what_waits_and_for_how_long(
    deps: Dependencies, ids: tuple[str, str]
) -> None:
    nobody = stripe.subscription(*ids, period_start=T0)  # no account anywhere
    deliver_and_apply(deps, stripe.event("customer.subscription.created", nobody, T0))
    now = event_backlog(deps)
    assert now.pending["deferred"] >= 1
    assert now.oldest_received_at is not None
    two_days_on = dataclasses.replace(deps, clock=lambda: datetime.now(UTC) + timedelta(days=2))
    # Deferred for more than a day: counted apart, for the alert.
    assert event_backlog(two_days_on).overdue >= now.overdue + 1
