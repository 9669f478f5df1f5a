"""Payment history and where the grace period starts (domain/payments.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from billing_server.domain.payments import PaymentFact, PaymentHistory, grace_anchor, with_facts
from billing_server.domain.subscriptions import SubscriptionStatus

pytestmark = pytest.mark.unit

T0 = datetime(2026, 6, 1, tzinfo=UTC)
PAST_DUE, ACTIVE = SubscriptionStatus.PAST_DUE, SubscriptionStatus.ACTIVE
PERIOD_START = T0 - timedelta(days=3)


def anchor(history: PaymentHistory, previous: datetime | None = None) -> datetime | None:
    return grace_anchor(history, PAST_DUE, PERIOD_START, previous)


def test_grace_starts_at_the_first_failure_of_the_bout() -> None:
    history = with_facts(
        PaymentHistory(), [PaymentFact(T0, False), PaymentFact(T0 + timedelta(days=1), False)]
    )
    assert anchor(history) == T0


def test_a_failure_older_than_the_last_payment_changes_nothing() -> None:
    paid = with_facts(
        PaymentHistory(), [PaymentFact(T0, True), PaymentFact(T0 + timedelta(days=5), False)]
    )
    late = paid.failed(T0 - timedelta(days=2))
    assert late == paid
    assert anchor(late) == T0 + timedelta(days=5)


def test_the_facts_give_one_answer_in_any_order() -> None:
    facts = [
        PaymentFact(T0, False),
        PaymentFact(T0 + timedelta(days=2), True),
        PaymentFact(T0 + timedelta(days=5), False),
        PaymentFact(T0 + timedelta(days=6), False),
    ]
    answers = set()
    for order in itertools.permutations(facts):
        history = PaymentHistory()
        for fact in order:  # one at a time, as separate batches would
            history = with_facts(history, [fact])
        answers.add(anchor(history))
    assert answers == {T0 + timedelta(days=5)}


def test_without_a_known_failure_grace_starts_with_the_period() -> None:
    assert anchor(PaymentHistory()) == PERIOD_START
    # ...unless this bout's anchor is recorded already.
    assert anchor(PaymentHistory(), previous=T0) == T0
    # A recorded anchor from before the last payment belongs to an older bout.
    assert anchor(PaymentHistory(settled_at=T0 + timedelta(days=1)), previous=T0) == PERIOD_START


def test_only_past_due_subscriptions_have_an_anchor() -> None:
    history = PaymentHistory().failed(T0)
    assert grace_anchor(history, ACTIVE, PERIOD_START, None) is None
