"""A past-due subscription keeps its plan for the grace period after the
first failed payment of the current bout (domain/payments.py), as CheckPlan
answers it from what the applier recorded."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing_server.domain.entitlements import DenialReason, PlanRequirement
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer import queries
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan
from tests import stripe_payloads as payloads
from tests.deliveries import deliver_and_apply
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.unit

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
SUB, CUSTOMER, ACCOUNT = "sub_1", "cus_1", "acct_1"
GRACE = timedelta(days=7)  # the bundled catalogue's


def subscription(status: str = "active") -> dict[str, Any]:
    return payloads.subscription(SUB, CUSTOMER, status=status, period_start=T0, account_id=ACCOUNT)


def invoice_event(kind: str, at: datetime) -> bytes:
    return payloads.event(f"invoice.payment_{kind}", payloads.invoice(SUB, CUSTOMER), at)


def at(deps: Dependencies, moment: datetime) -> Dependencies:
    return dataclasses.replace(deps, clock=lambda: moment)


def test_a_failed_renewal_starts_the_grace_period_and_a_payment_ends_it(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    assert deps.catalog.policy.grace_period == GRACE
    deliver_and_apply(deps, payloads.event("customer.subscription.created", subscription(), T0))
    failed_at = T0 + timedelta(days=1)
    stripe.subscriptions[SUB] = payloads.snapshot(subscription("past_due"))
    deliver_and_apply(deps, invoice_event("failed", failed_at))
    recorded = queries.get_subscription(deps, ACCOUNT).subscription
    assert recorded is not None
    assert (recorded.status, recorded.past_due_since) == (SubscriptionStatus.PAST_DUE, failed_at)
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert decision.allowed
    assert decision.grace_period_end == failed_at + GRACE

    stripe.subscriptions[SUB] = payloads.snapshot(subscription())
    deliver_and_apply(deps, invoice_event("succeeded", failed_at + timedelta(hours=2)))
    recorded = queries.get_subscription(deps, ACCOUNT).subscription
    assert recorded is not None
    assert (recorded.status, recorded.past_due_since) == (SubscriptionStatus.ACTIVE, None)


@pytest.mark.parametrize(
    ("since_failure", "allowed"),
    [
        (timedelta(0), True),
        (GRACE - timedelta(seconds=1), True),
        (GRACE, False),
        (GRACE + timedelta(days=1), False),
    ],
)
def test_past_due_entitles_inside_the_grace_period_only(
    deps: Dependencies, stripe: FakeStripeGateway, since_failure: timedelta, allowed: bool
) -> None:
    failed_at = T0 + timedelta(hours=3)
    stripe.subscriptions[SUB] = payloads.snapshot(subscription("past_due"))
    deliver_and_apply(deps, invoice_event("failed", failed_at))
    decision = check_plan(at(deps, failed_at + since_failure), ACCOUNT, PlanRequirement("pro"))
    assert decision.decision.allowed is allowed
    if not allowed:
        assert decision.decision.denial_reason is DenialReason.PAYMENT_OVERDUE
        assert decision.decision.plan == "free"


def test_without_a_known_failure_the_grace_runs_from_the_period_start(
    deps: Dependencies,
) -> None:
    # Seen past due with no invoice event: Stripe moved it there when the
    # renewal of this period failed, so the grace cannot be longer than that.
    deliver_and_apply(
        deps, payloads.event("customer.subscription.updated", subscription("past_due"), T0)
    )
    inside = check_plan(
        at(deps, T0 + GRACE - timedelta(seconds=1)), ACCOUNT, PlanRequirement("pro")
    )
    assert inside.decision.grace_period_end == T0 + GRACE
    after = check_plan(at(deps, T0 + GRACE), ACCOUNT, PlanRequirement("pro"))
    assert after.decision.denial_reason is DenialReason.PAYMENT_OVERDUE


def test_a_late_failure_of_an_earlier_paid_bout_does_not_move_the_grace_back(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    stripe.subscriptions[SUB] = payloads.snapshot(subscription("past_due"))
    first_failure, paid, second_failure = (
        T0 - timedelta(days=20),
        T0 - timedelta(days=18),
        T0 + timedelta(hours=2),
    )
    # The second bout and the payment that ended the first arrive first...
    deliver_and_apply(
        deps, invoice_event("succeeded", paid), invoice_event("failed", second_failure)
    )
    # ... the first bout's failure last, long after.
    deliver_and_apply(deps, invoice_event("failed", first_failure))
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert decision.grace_period_end == second_failure + GRACE


def test_a_payment_arriving_last_closes_only_the_failures_before_it(
    deps: Dependencies, stripe: FakeStripeGateway
) -> None:
    stripe.subscriptions[SUB] = payloads.snapshot(subscription("past_due"))
    bout = T0 - timedelta(days=10)
    first_failure, paid, second_failure = bout, bout + timedelta(days=2), bout + timedelta(days=5)
    for moment, kind in (
        (second_failure, "failed"),
        (first_failure, "failed"),
        (paid, "succeeded"),
    ):
        deliver_and_apply(deps, invoice_event(kind, moment))
    decision = check_plan(deps, ACCOUNT, PlanRequirement("pro")).decision
    assert decision.grace_period_end == second_failure + GRACE
