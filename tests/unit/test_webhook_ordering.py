"""Which state a subscription's events leave it in, whatever order they come
in (domain/event_batches.py), applied through the service layer."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing_server.domain.entitlements import DenialReason, PlanRequirement
from billing_server.domain.subscriptions import CLOCK_MARGIN
from billing_server.service_layer import queries
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from billing_server.service_layer.fetched_snapshots import record_fetched
from billing_server.service_layer.recording import Recorded
from tests import stripe_payloads as payloads
from tests.deliveries import deliver_and_apply
from tests.fakes import FakeStripeGateway
from tests.unit.fake_unit_of_work import FakeDatabase
from tests.unit.webhook_deliveries import stored

pytestmark = pytest.mark.unit

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
PRO, ENTERPRISE = "paymentsvc_pro_monthly", "paymentsvc_enterprise_monthly"
SUB, CUSTOMER, ACCOUNT = "sub_1", "cus_1", "acct_1"


def subscription(status: str = "active", *, cancel_at_period_end: bool = False) -> dict[str, Any]:
    return payloads.subscription(
        SUB,
        CUSTOMER,
        status=status,
        period_start=T0,
        cancel_at_period_end=cancel_at_period_end,
        account_id=ACCOUNT,
    )


def updated(obj: dict[str, Any], at: datetime) -> bytes:
    return payloads.event("customer.subscription.updated", obj, at)


def recorded_as(deps: Dependencies, account_id: str = ACCOUNT) -> tuple[str, bool, str]:
    found = queries.get_subscription(deps, account_id).subscription
    assert found is not None
    return found.status.value, found.cancel_at_period_end, found.plan


def test_an_older_event_never_overwrites_a_newer_one(
    deps: Dependencies, database: FakeDatabase
) -> None:
    deliver_and_apply(
        deps,
        payloads.event(
            "customer.subscription.deleted", subscription("canceled"), T0 + timedelta(seconds=10)
        ),
    )
    late = updated(subscription(), T0 + timedelta(seconds=5))
    deliver_and_apply(deps, late)
    assert stored(database, late).outcome == "stale"
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert decision.denial_reason is DenialReason.SUBSCRIPTION_CANCELED


def test_of_events_arriving_together_the_newest_applies_and_the_others_are_superseded(
    deps: Dependencies, database: FakeDatabase, stripe: FakeStripeGateway
) -> None:
    newest = updated(subscription(cancel_at_period_end=True), T0 + timedelta(seconds=9))
    older = [
        updated(subscription("past_due"), T0 + timedelta(seconds=3)),
        updated(subscription("unpaid"), T0 + timedelta(seconds=6)),
    ]
    deliver_and_apply(deps, newest, *older)
    assert recorded_as(deps) == ("active", True, "pro")
    assert stored(database, newest).outcome == "applied"
    assert {stored(database, p).outcome for p in older} == {"superseded"}
    assert "get_subscription" not in stripe.calls  # the newest second was its alone


def test_events_from_one_second_are_settled_by_one_fetch(
    deps: Dependencies, database: FakeDatabase, stripe: FakeStripeGateway
) -> None:
    deliver_and_apply(deps, payloads.event("customer.subscription.created", subscription(), T0))
    # Three changes in one second; only Stripe knows which came last.
    same_second = T0 + timedelta(seconds=30)
    changes = [updated(subscription(s), same_second) for s in ("past_due", "unpaid", "active")]
    stripe.subscriptions[SUB] = payloads.snapshot(subscription("unpaid"))
    deliver_and_apply(deps, *changes)
    assert stripe.calls.count("get_subscription") == 1
    assert recorded_as(deps)[0] == "unpaid"
    assert {stored(database, p).status for p in changes} == {"processed"}


def test_a_deletion_and_an_update_in_one_second_end_as_stripe_holds_it(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    second = T0 + timedelta(seconds=3)
    canceled = subscription("canceled")
    stripe.subscriptions[SUB] = payloads.snapshot(canceled)
    deliver_and_apply(
        deps,
        payloads.event("customer.subscription.deleted", canceled, second),
        updated(subscription("past_due"), second),
    )
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert decision.denial_reason is DenialReason.SUBSCRIPTION_CANCELED


def test_an_event_from_the_recorded_second_asks_stripe(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    deliver_and_apply(deps, payloads.event("customer.subscription.created", subscription(), T0))
    stripe.subscriptions[SUB] = payloads.snapshot(subscription(cancel_at_period_end=True))
    deliver_and_apply(deps, updated(subscription("past_due"), T0))
    assert recorded_as(deps)[:2] == ("active", True)


def test_an_event_older_than_a_fetched_snapshot_is_stale(
    deps: Dependencies, database: FakeDatabase, stripe: FakeStripeGateway
) -> None:
    # Fetched live (a confirmed checkout, a plan change): true from just
    # before the request started.
    started = T0 + timedelta(minutes=5)
    outcome, _ = record_fetched(deps, ACCOUNT, payloads.snapshot(subscription()), started)
    assert outcome is Recorded.APPLIED
    before_the_fetch = updated(
        subscription("past_due"), started - CLOCK_MARGIN - timedelta(seconds=1)
    )
    deliver_and_apply(deps, before_the_fetch)
    assert stored(database, before_the_fetch).outcome == "stale"
    assert recorded_as(deps)[0] == "active"
    assert "get_subscription" not in stripe.calls


def test_a_snapshot_fetched_before_a_newer_write_is_not_recorded(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    # The request fetched the subscription active; while it was in flight,
    # the deletion event was applied. Its snapshot is not written: Stripe is
    # asked again, and what it holds now is recorded.
    request_started = deps.clock()
    fetched_then = payloads.snapshot(subscription())
    canceled = subscription("canceled")
    stripe.subscriptions[SUB] = payloads.snapshot(canceled)
    deliver_and_apply(
        deps, payloads.event("customer.subscription.deleted", canceled, request_started)
    )
    outcome, state = record_fetched(deps, ACCOUNT, fetched_then, request_started)
    assert stripe.calls.count("get_subscription") == 1
    assert outcome is Recorded.UNCHANGED
    assert state.subscription is not None
    assert state.subscription.status.value == "canceled"
    assert recorded_as(deps)[0] == "canceled"


def test_a_shuffled_stream_ends_where_the_ordered_one_does(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    rng = random.Random(7)
    statuses = ["active", "past_due", "active", "canceled", "active", "unpaid", "trialing"]
    streams: dict[str, list[bytes]] = {"ordered": [], "shuffled": []}
    final: dict[str, dict[str, object]] = {}
    for n in range(20):
        for kind in streams:
            account = f"acct_{kind}_{n}"
            sub_id, customer = f"sub_{account}", f"cus_{account}"
            objects = []
            for step, status in enumerate(rng.sample(statuses, len(statuses))):
                obj = payloads.subscription(
                    sub_id,
                    customer,
                    status=status,
                    period_start=T0,
                    lookup_key=rng.choice([PRO, ENTERPRISE]),
                    cancel_at_period_end=step % 3 == 0,
                    account_id=account,
                )
                # Every third step shares its second with the one before.
                second = step - (1 if step % 3 == 2 else 0)
                objects.append((obj, T0 + timedelta(seconds=second)))
            stripe.subscriptions[sub_id] = payloads.snapshot(objects[-1][0])
            final[account] = objects[-1][0]
            streams[kind] += [updated(o, t) for o, t in objects]
    shuffled = streams["shuffled"][:]
    rng.shuffle(shuffled)
    for payload in streams["ordered"]:
        deliver_and_apply(deps, payload)  # one at a time, as they come
    deliver_and_apply(deps, *shuffled)  # all at once, out of order

    for account, obj in final.items():
        expected_plan = "pro" if PRO in json.dumps(obj["items"]) else "enterprise"
        assert recorded_as(deps, account) == (
            obj["status"],
            obj["cancel_at_period_end"],
            expected_plan,
        ), account
