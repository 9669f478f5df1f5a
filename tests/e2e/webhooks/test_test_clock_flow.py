"""Time passing in Stripe, with a test clock, followed by the service through
its webhooks alone: a renewal, a failed renewal dunned to its end, a
cancellation scheduled for a date, and trials that end. Each test has a clock of its own, so that
advancing it moves only that test's subscription."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.v1 import billing_pb2
from stripe_emulator.periods import days
from tests.e2e.webhooks.conftest import WebhookStack
from tests.e2e.webhooks.test_webhook_flow import flushed, stripe_client

pytestmark = pytest.mark.e2e


class ClockedAccount:
    """An account that bought `pro` through checkout, with its Stripe
    customer on a test clock that starts at the emulator's now."""

    def __init__(self, stack: WebhookStack, account_id: str, trial_days: int | None = None) -> None:
        self.stack, self.account_id = stack, account_id
        self.stripe = stripe_client(stack)
        self.clock = self.stripe.v1.test_helpers.test_clocks.create(
            params={"frozen_time": stack.control.now(), "name": account_id}
        )
        request = billing_pb2.CreateCheckoutRequest(account_id=account_id, plan="pro")
        if trial_days is not None:
            request.trial_days = trial_days
        session = stack.stub().CreateCheckout(request, timeout=10)
        customer = self.stripe.v1.checkout.sessions.retrieve(session.session_id).customer
        assert isinstance(customer, str)
        self.customer_id = customer
        stack.control.attach_to_test_clock(customer, self.clock.id)
        completed = stack.control.complete_checkout(session.session_id)
        self.subscription_id = str(completed["subscription"])
        flushed(stack)

    def period_end(self) -> int:
        sub = self.stripe.v1.subscriptions.retrieve(self.subscription_id)
        return int(sub["items"].data[0].current_period_end)

    def advance_to(self, frozen_time: int) -> None:
        self.stripe.v1.test_helpers.test_clocks.advance(
            self.clock.id, params={"frozen_time": frozen_time}
        )
        flushed(self.stack)

    def check(self) -> billing_pb2.CheckPlanResponse:
        return self.stack.check(self.account_id)

    def served_period_end(self) -> int:
        answer = self.stack.stub().GetSubscription(
            billing_pb2.GetSubscriptionRequest(account_id=self.account_id), timeout=5
        )
        return int(answer.subscription.current_period_end.seconds)


@pytest.fixture
def clocked(calm: WebhookStack, account_id: str) -> Iterator[ClockedAccount]:
    yield ClockedAccount(calm, account_id)
    calm.control.set_dunning("canceled")


def test_a_renewal_on_the_clock_moves_the_served_period(clocked: ClockedAccount) -> None:
    first_end = clocked.period_end()
    assert clocked.served_period_end() == first_end

    clocked.advance_to(first_end + days(1))

    assert clocked.period_end() > first_end
    assert clocked.served_period_end() == clocked.period_end()
    answer = clocked.check()
    assert answer.allowed
    assert answer.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE


@pytest.mark.parametrize(
    ("final_status", "served_status"),
    [
        ("canceled", billing_pb2.SUBSCRIPTION_STATUS_CANCELED),
        ("unpaid", billing_pb2.SUBSCRIPTION_STATUS_UNPAID),
    ],
    ids=["canceled", "unpaid"],
)
def test_a_failed_renewal_is_dunned_to_its_end(
    clocked: ClockedAccount, final_status: str, served_status: int
) -> None:
    clocked.stack.control.set_dunning(final_status)
    clocked.stripe.v1.customers.update(
        clocked.customer_id,
        params={"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}},
    )
    period_end = clocked.period_end()

    clocked.advance_to(period_end + 60)
    past_due = clocked.check()
    clocked.advance_to(period_end + days(7) + 60)
    ended = clocked.check()

    assert past_due.status == billing_pb2.SUBSCRIPTION_STATUS_PAST_DUE
    assert past_due.allowed  # within the grace period
    assert ended.status == served_status
    assert not ended.allowed


def test_cancel_at_ends_the_subscription_when_the_clock_passes_it(
    clocked: ClockedAccount,
) -> None:
    cancel_at = int(clocked.clock.frozen_time) + days(10)
    clocked.stripe.v1.subscriptions.update(clocked.subscription_id, params={"cancel_at": cancel_at})
    flushed(clocked.stack)

    clocked.advance_to(cancel_at + 60)

    answer = clocked.check()
    assert not answer.allowed
    assert answer.denial_reason == billing_pb2.DENIAL_REASON_SUBSCRIPTION_CANCELED


def test_a_trial_entitles_until_its_end_and_then_bills(calm: WebhookStack, account_id: str) -> None:
    trialing = ClockedAccount(calm, account_id, trial_days=7)
    trial_end = trialing.period_end()
    assert trial_end == int(trialing.clock.frozen_time) + days(7)
    during = trialing.check()

    trialing.advance_to(trial_end + 60)
    after = trialing.check()

    assert during.allowed
    assert during.status == billing_pb2.SUBSCRIPTION_STATUS_TRIALING
    assert after.allowed
    assert after.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE
    assert trialing.served_period_end() == trialing.period_end() > trial_end


def test_a_trial_whose_first_payment_fails_goes_past_due(
    calm: WebhookStack, account_id: str
) -> None:
    trialing = ClockedAccount(calm, account_id, trial_days=3)
    trialing.stripe.v1.customers.update(
        trialing.customer_id,
        params={"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}},
    )

    trialing.advance_to(trialing.period_end() + 60)

    answer = trialing.check()
    assert answer.status == billing_pb2.SUBSCRIPTION_STATUS_PAST_DUE
    assert answer.allowed  # within the grace period
