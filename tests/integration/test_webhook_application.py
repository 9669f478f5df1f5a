"""Stripe events applied exactly once, newest truth winning, nothing dropped."""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from billing_server.adapters.orm import StripeEventRow
from billing_server.bootstrap import Application
from billing_server.domain.entitlements import DenialReason, PlanRequirement
from billing_server.domain.errors import InvalidArgument, Unavailable
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer import checking, queries
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.event_recovery import replay_missed_events, retry_events
from billing_server.service_layer.webhooks import IngestOutcome, ingest_event
from tests import stripe_payloads as stripe
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def ids() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:12]
    return f"sub_{suffix}", f"cus_{suffix}"


def stored(app: Application, payload: bytes) -> StripeEventRow:
    event_id = json.loads(payload)["id"]
    with app.database.reader() as session:
        row = session.get(StripeEventRow, event_id)
        assert row is not None
        return row


def version(deps: Dependencies, account_id: str) -> int:
    return checking.check_plan(deps, account_id, PlanRequirement("free")).state_version


def test_a_subscription_event_entitles_the_account(
    deps: Dependencies, account_id: str, ids: tuple[str, str]
) -> None:
    sub_id, customer = ids
    obj = stripe.subscription(sub_id, customer, period_start=T0, account_id=account_id)
    result = ingest_event(deps, stripe.event("customer.subscription.created", obj, T0))
    assert result.outcome is IngestOutcome.APPLIED
    assert checking.check_plan(deps, account_id, PlanRequirement("pro")).allowed


def test_a_second_delivery_is_a_duplicate(
    app: Application, deps: Dependencies, account_id: str, ids: tuple[str, str]
) -> None:
    obj = stripe.subscription(*ids, period_start=T0, account_id=account_id)
    payload = stripe.event("customer.subscription.created", obj, T0)
    ingest_event(deps, payload)
    before = version(deps, account_id)
    assert ingest_event(deps, payload).outcome is IngestOutcome.DUPLICATE
    assert version(deps, account_id) == before
    assert stored(app, payload).attempts == 1


def test_fifty_concurrent_deliveries_apply_once(
    app: Application, deps: Dependencies, account_id: str, ids: tuple[str, str]
) -> None:
    obj = stripe.subscription(*ids, period_start=T0, account_id=account_id)
    payload = stripe.event("customer.subscription.created", obj, T0)
    start = threading.Barrier(50)

    def deliver() -> IngestOutcome:
        start.wait()
        return ingest_event(deps, payload).outcome

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(lambda _: deliver(), range(50)))
    assert outcomes.count(IngestOutcome.APPLIED) == 1
    assert outcomes.count(IngestOutcome.DUPLICATE) == 49
    assert version(deps, account_id) == 1
    assert stored(app, payload).attempts == 1


def test_an_older_event_never_overwrites_a_newer_one(
    deps: Dependencies, account_id: str, ids: tuple[str, str]
) -> None:
    sub_id, customer = ids
    newer = stripe.subscription(
        sub_id, customer, status="canceled", period_start=T0, account_id=account_id
    )
    older = stripe.subscription(
        sub_id, customer, status="active", period_start=T0, account_id=account_id
    )
    ingest_event(
        deps, stripe.event("customer.subscription.deleted", newer, T0 + timedelta(seconds=10))
    )
    late = ingest_event(
        deps, stripe.event("customer.subscription.updated", older, T0 + timedelta(seconds=5))
    )
    assert late.outcome is IngestOutcome.STALE
    decision = checking.check_plan(deps, account_id, PlanRequirement("pro"))
    assert decision.denial_reason is DenialReason.SUBSCRIPTION_CANCELED


def test_an_event_from_the_same_second_asks_stripe(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str, ids: tuple[str, str]
) -> None:
    sub_id, customer = ids
    first = stripe.subscription(sub_id, customer, period_start=T0, account_id=account_id)
    ingest_event(deps, stripe.event("customer.subscription.created", first, T0))
    # Stripe's truth now: canceling at the period's end. The event of the
    # same second carries an outdated payload; the service must not guess.
    truth = stripe.subscription(
        sub_id, customer, period_start=T0, cancel_at_period_end=True, account_id=account_id
    )
    fake_stripe.subscriptions[sub_id] = stripe.snapshot(truth)
    outdated = stripe.subscription(
        sub_id, customer, status="past_due", period_start=T0, account_id=account_id
    )
    ingest_event(deps, stripe.event("customer.subscription.updated", outdated, T0))
    assert "get_subscription" in fake_stripe.calls
    subscription = queries.get_subscription(deps, account_id).subscription
    assert subscription is not None
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.cancel_at_period_end


def test_events_for_an_unknown_customer_wait_for_it(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str, ids: tuple[str, str]
) -> None:
    sub_id, customer = ids
    obj = stripe.subscription(sub_id, customer, period_start=T0)  # no account metadata
    early = ingest_event(deps, stripe.event("customer.subscription.created", obj, T0))
    assert early.outcome is IngestOutcome.DEFERRED
    assert not checking.check_plan(deps, account_id, PlanRequirement("pro")).allowed

    fake_stripe.subscriptions[sub_id] = stripe.snapshot(obj)
    session = stripe.checkout_session(
        f"cs_test_{uuid.uuid4().hex[:10]}", account_id, customer, sub_id
    )
    ingest_event(
        deps, stripe.event("checkout.session.completed", session, T0 + timedelta(seconds=2))
    )
    assert checking.check_plan(deps, account_id, PlanRequirement("pro")).allowed


def test_a_customer_named_in_stripe_is_resolved_there(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str, ids: tuple[str, str]
) -> None:
    sub_id, customer = ids
    fake_stripe.customers[customer] = account_id
    obj = stripe.subscription(sub_id, customer, period_start=T0)
    outcome = ingest_event(deps, stripe.event("customer.subscription.created", obj, T0)).outcome
    assert outcome is IngestOutcome.APPLIED
    assert checking.check_plan(deps, account_id, PlanRequirement("pro")).allowed


def test_a_failed_renewal_starts_the_grace_period_and_a_payment_ends_it(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str, ids: tuple[str, str]
) -> None:
    sub_id, customer = ids
    active = stripe.subscription(sub_id, customer, period_start=T0, account_id=account_id)
    ingest_event(deps, stripe.event("customer.subscription.created", active, T0))

    failed_at = T0 + timedelta(days=1)
    fake_stripe.subscriptions[sub_id] = stripe.snapshot(
        stripe.subscription(
            sub_id, customer, status="past_due", period_start=T0, account_id=account_id
        )
    )
    ingest_event(
        deps, stripe.event("invoice.payment_failed", stripe.invoice(sub_id, customer), failed_at)
    )
    subscription = queries.get_subscription(deps, account_id).subscription
    assert subscription is not None
    assert subscription.status is SubscriptionStatus.PAST_DUE
    assert subscription.past_due_since == failed_at
    decision = checking.check_plan(deps, account_id, PlanRequirement("pro"))
    assert decision.allowed
    assert decision.grace_period_end == failed_at + timedelta(days=7)

    later = dataclasses.replace(deps, clock=lambda: failed_at + timedelta(days=8))
    assert (
        checking.check_plan(later, account_id, PlanRequirement("pro")).denial_reason
        is DenialReason.PAYMENT_OVERDUE
    )

    fake_stripe.subscriptions[sub_id] = stripe.snapshot(active)
    ingest_event(
        deps, stripe.event("invoice.payment_succeeded", stripe.invoice(sub_id, customer), failed_at)
    )
    subscription = queries.get_subscription(deps, account_id).subscription
    assert subscription is not None
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.past_due_since is None


def test_unhandled_types_are_recorded_and_acknowledged(
    app: Application, deps: Dependencies
) -> None:
    payload = stripe.event("customer.created", {"id": "cus_x", "object": "customer"}, T0)
    assert ingest_event(deps, payload).outcome is IngestOutcome.IGNORED
    assert stored(app, payload).status == "processed"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"object": "event"}',
        json.dumps({"object": "charge", "id": "ch_1"}).encode(),
    ],
)
def test_a_payload_that_is_not_an_event_is_refused(deps: Dependencies, payload: bytes) -> None:
    with pytest.raises(InvalidArgument):
        ingest_event(deps, payload)


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

    with pytest.raises(Unavailable):
        ingest_event(deps, payload)
    row = stored(app, payload)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None
    assert "Stripe is down" in row.last_error

    del fake_stripe.failures["get_subscription"]
    report = retry_events(deps)
    assert report.applied >= 1
    assert stored(app, payload).status == "processed"
    assert checking.check_plan(deps, account_id, PlanRequirement("pro")).allowed


def test_replay_applies_only_the_events_never_stored(
    deps: Dependencies, fake_stripe: FakeStripeGateway, account_id: str, ids: tuple[str, str]
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
    ingest_event(deps, created)  # delivered; the deletion never was
    fake_stripe.events = [(T0, created), (T0 + timedelta(seconds=30), canceled)]

    report = replay_missed_events(deps, since=T0 - timedelta(hours=1))
    assert (report.listed, report.already_stored, report.applied) == (2, 1, 1)
    denied = checking.check_plan(deps, account_id, PlanRequirement("pro"))
    assert denied.denial_reason is DenialReason.SUBSCRIPTION_CANCELED
    again = replay_missed_events(deps, since=T0 - timedelta(hours=1))
    assert again.applied == 0


def test_a_shuffled_stream_ends_where_the_ordered_one_does(
    deps: Dependencies, fake_stripe: FakeStripeGateway
) -> None:
    rng = random.Random(7)
    statuses = [
        "active",
        "past_due",
        "active",
        "canceled",
        "active",
        "unpaid",
        "active",
        "trialing",
        "past_due",
        "active",
    ]
    streams: dict[str, list[bytes]] = {"ordered": [], "shuffled": []}
    final: dict[str, dict[str, object]] = {}
    for n in range(20):
        for kind in streams:
            account = f"acct_{kind}_{n}_{uuid.uuid4().hex[:8]}"
            sub_id, customer = f"sub_{account}", f"cus_{account}"
            objects = []
            for step, status in enumerate(rng.sample(statuses, len(statuses))):
                obj = stripe.subscription(
                    sub_id,
                    customer,
                    status=status,
                    period_start=T0,
                    lookup_key=rng.choice(
                        ["paymentsvc_pro_monthly", "paymentsvc_enterprise_monthly"]
                    ),
                    cancel_at_period_end=step % 3 == 0,
                    account_id=account,
                )
                # Every third step shares its second with the one before.
                second = step - (1 if step % 3 == 2 else 0)
                objects.append((obj, T0 + timedelta(seconds=second)))
            fake_stripe.subscriptions[sub_id] = stripe.snapshot(objects[-1][0])
            final[account] = objects[-1][0]
            streams[kind] += [
                stripe.event("customer.subscription.updated", o, t) for o, t in objects
            ]
    shuffled = streams["shuffled"][:]
    rng.shuffle(shuffled)
    for payload in streams["ordered"] + shuffled:
        ingest_event(deps, payload)

    for account, obj in final.items():
        subscription = queries.get_subscription(deps, account).subscription
        assert subscription is not None
        assert subscription.status.value == obj["status"]
        assert subscription.cancel_at_period_end == obj["cancel_at_period_end"]
        expected_plan = "pro" if "pro" in json.dumps(obj["items"]) else "enterprise"
        assert subscription.plan == expected_plan
