"""What a plan check does while the billing service cannot be reached."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest

from billing_client import (
    FAIL_CLOSED,
    FAIL_OPEN,
    AnswerSource,
    FailurePolicy,
    NotFound,
    PlanCache,
    PlanCheck,
    PlanRequired,
    SubscriptionStatus,
    Unavailable,
    requires_plan,
    serve_stale,
)
from billing_client._policy import resolve
from billing_client.testing import FakeBillingClient

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_fail_closed_raises_unavailable_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeBillingClient()
    fake.set_unavailable()

    with pytest.raises(Unavailable):
        fake.check_access("acct_1", plan="pro", on_unavailable=FAIL_CLOSED)

    assert fake.stats.fallbacks == {"stale": 0, "fail_open": 0, "fail_closed": 1}
    assert "failing closed for account acct_1" in caplog.text


def test_fail_open_allows_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeBillingClient()
    fake.set_unavailable()

    with caplog.at_level(logging.WARNING, logger="billing_client"):
        check = fake.check_access("acct_1", plan="pro", on_unavailable=FAIL_OPEN)

    assert check.allowed
    assert check.source is AnswerSource.FAIL_OPEN
    assert fake.stats.fallback_fail_open == 1
    assert "failing open for account acct_1" in caplog.text


def test_serve_stale_serves_the_last_answer_within_its_allowance() -> None:
    clock = Clock()
    fake = FakeBillingClient(clock=clock)
    fake.set_plan("acct_1", "pro")
    assert fake.check_access("acct_1", plan="pro").allowed
    fake.set_unavailable()

    clock.now += 59
    stale = fake.check_access("acct_1", plan="pro", on_unavailable=serve_stale(60))
    clock.now += 2
    with pytest.raises(Unavailable):
        fake.check_access("acct_1", plan="pro", on_unavailable=serve_stale(60))

    assert stale.allowed
    assert stale.source is AnswerSource.STALE
    assert fake.stats.fallbacks == {"stale": 1, "fail_open": 0, "fail_closed": 1}


def test_serve_stale_then_fail_open() -> None:
    fake = FakeBillingClient()
    fake.set_unavailable()

    check = fake.check_access("acct_1", plan="pro", on_unavailable=serve_stale(60, then=FAIL_OPEN))

    assert check.source is AnswerSource.FAIL_OPEN


def test_stale_denials_stay_denials() -> None:
    fake = FakeBillingClient()
    assert not fake.check_access("acct_1", plan="pro").allowed
    fake.set_unavailable()

    @requires_plan("pro", client=fake, on_unavailable=serve_stale(60, then=FAIL_OPEN))
    def export(account_id: str) -> str:
        return "exported"

    with pytest.raises(PlanRequired):
        export("acct_1")


def test_policies_apply_per_decorator() -> None:
    fake = FakeBillingClient()
    fake.set_unavailable()

    @requires_plan("pro", client=fake, on_unavailable=FAIL_OPEN)
    def lenient(account_id: str) -> str:
        return "ok"

    @requires_plan("pro", client=fake)
    def strict(account_id: str) -> str:
        return "ok"

    assert lenient("acct_1") == "ok"
    with pytest.raises(Unavailable):
        strict("acct_1")


def test_other_errors_are_not_hidden_by_a_policy() -> None:
    fake = FakeBillingClient()

    with pytest.raises(NotFound) as refused:
        fake.check_access("acct_1", plan="gold", on_unavailable=FAIL_OPEN)
    assert refused.value.reason == "PLAN_NOT_FOUND"


def test_a_server_stale_answer_is_served_within_the_policys_bound() -> None:
    clock = Clock()
    known = datetime.fromtimestamp(clock.now - 90, UTC)
    stale = PlanCheck(
        allowed=True,
        denial_reason=None,
        plan="pro",
        status=SubscriptionStatus.ACTIVE,
        stale=True,
        known_current_at=known,
    )
    key = ("acct_1", "plan", "pro")

    def fetch() -> PlanCheck:
        return stale

    accepting = FailurePolicy(max_server_stale=120)
    assert resolve(PlanCache(clock=clock), key, fetch, accepting) == stale
    assert resolve(PlanCache(clock=clock), key, fetch, FAIL_CLOSED) == stale  # no bound set

    strict = FailurePolicy(max_server_stale=60)
    with pytest.raises(Unavailable) as refused:
        resolve(PlanCache(clock=clock), key, fetch, strict)
    assert refused.value.reason == "SERVER_STALE"
    fail_open = FailurePolicy(FAIL_OPEN.mode, max_server_stale=60)
    opened = resolve(PlanCache(clock=clock), key, fetch, fail_open)
    assert opened.source is AnswerSource.FAIL_OPEN
