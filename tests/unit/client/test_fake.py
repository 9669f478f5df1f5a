"""FakeBillingClient behaves like the service for the code under test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from billing_client import (
    CancellationTiming,
    DenialReason,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    SubscriptionStatus,
)
from billing_client.testing import FakeAsyncBillingClient, FakeBillingClient

pytestmark = pytest.mark.unit


def test_accounts_without_subscription_are_on_the_free_plan() -> None:
    check = FakeBillingClient().check_plan("acct_1", plan="pro")

    assert not check.allowed
    assert check.plan == "free"
    assert check.status is SubscriptionStatus.NONE
    assert check.denial_reason is DenialReason.NO_SUBSCRIPTION
    assert check.required_plan == "pro"


def test_a_higher_plan_satisfies_a_lower_requirement() -> None:
    fake = FakeBillingClient()
    fake.set_plan("acct_1", "enterprise")

    assert fake.check_plan("acct_1", plan="pro").allowed
    assert fake.check_plan("acct_1", feature="sso").allowed


def test_features_can_be_set_per_account() -> None:
    fake = FakeBillingClient()
    fake.set_plan("acct_1", "pro", features=["beta_reports"])

    assert fake.check_plan("acct_1", feature="beta_reports").allowed
    assert not fake.check_plan("acct_1", feature="exports").allowed


def test_unknown_plans_and_features_are_not_found() -> None:
    fake = FakeBillingClient()

    with pytest.raises(NotFound) as plan:
        fake.check_plan("acct_1", plan="gold")
    with pytest.raises(NotFound) as feature:
        fake.check_plan("acct_1", feature="teleport")

    assert plan.value.reason == "PLAN_NOT_FOUND"
    assert feature.value.reason == "FEATURE_NOT_FOUND"


def test_canceled_subscriptions_deny() -> None:
    fake = FakeBillingClient()
    fake.set_plan("acct_1", "pro", status=SubscriptionStatus.CANCELED)

    check = fake.check_plan("acct_1", plan="pro")

    assert check.denial_reason is DenialReason.SUBSCRIPTION_CANCELED


def test_checkout_confirm_change_and_cancel() -> None:
    fake = FakeBillingClient()

    session = fake.create_checkout("acct_1", "pro")
    with pytest.raises(FailedPrecondition):
        fake.confirm_checkout(session.session_id)
    fake.complete_checkout(session.session_id)
    confirmed = fake.confirm_checkout(session.session_id, account_id="acct_1")
    changed = fake.change_plan("acct_1", "enterprise")
    canceled = fake.cancel_subscription("acct_1", timing=CancellationTiming.IMMEDIATELY)

    assert confirmed.plan == "pro"
    assert changed.plan == "enterprise"
    assert changed.state_version > confirmed.state_version
    assert canceled.status is SubscriptionStatus.CANCELED
    assert not fake.check_plan("acct_1", plan="pro").allowed
    assert [p.name for p in fake.list_plans()] == ["free", "pro", "enterprise"]
    assert fake.create_portal_session("acct_1").url


def test_the_async_twin_shares_state() -> None:
    fake = FakeBillingClient()
    twin: FakeAsyncBillingClient = fake.aio
    fake.set_plan("acct_1", "pro")

    check = asyncio.run(twin.check_access("acct_1", plan="pro"))

    assert check.allowed
    assert fake.calls == [("check_plan", "acct_1")]


def test_the_fake_watch_is_always_connected_and_stops() -> None:
    fake = FakeBillingClient()
    watch = fake.watch_entitlements(watch_ttl=60)
    assert watch.wait_connected(0)
    fake.set_plan("acct_1", "pro")
    assert fake.check_access("acct_1", plan="pro").allowed
    fake.close()
    assert not watch.wait_connected(0)

    async def main() -> bool:
        async with FakeAsyncBillingClient() as client:
            async_watch = client.watch_entitlements()
            assert await async_watch.wait_connected(1)
        return async_watch.connected

    assert asyncio.run(main()) is False


def test_get_entitlements_agrees_with_the_fakes_checks() -> None:
    fake = FakeBillingClient()
    fake.set_plan("acct_1", "pro")
    entitled = fake.get_entitlements("acct_1")
    features = {f for plan in fake.plans for f in plan.features}
    for feature in sorted(features):
        assert entitled.allows(feature) == fake.check_plan("acct_1", feature=feature).allowed
    assert entitled.plan == "pro"
    nobody = fake.get_entitlements("acct_2")
    assert nobody.plan == "free"
    assert nobody.denial_reason is DenialReason.NO_SUBSCRIPTION


def test_default_plans_are_the_shipped_catalogue() -> None:
    from billing_server.adapters.catalog_file import load_catalog
    from billing_server.config import DEFAULT_PLANS_FILE

    server = load_catalog(DEFAULT_PLANS_FILE)
    fake = FakeBillingClient()

    assert [(p.name, p.rank, set(p.features), p.purchasable) for p in fake.list_plans()] == [
        (p.name, p.rank, set(p.features), p.purchasable) for p in server.plans
    ]
    assert fake.grace_period == server.policy.grace_period
    assert fake.get_entitlements("acct_1").limits == dict(server.plans[0].limits)


def test_past_due_keeps_the_plan_for_the_grace_period_only() -> None:
    fake = FakeBillingClient(grace_period=timedelta(days=3))
    now = datetime.now(UTC)
    fake.set_plan(
        "acct_in", "pro", status=SubscriptionStatus.PAST_DUE, past_due_since=now - timedelta(days=2)
    )
    fake.set_plan(
        "acct_out",
        "pro",
        status=SubscriptionStatus.PAST_DUE,
        past_due_since=now - timedelta(days=4),
    )

    inside = fake.check_plan("acct_in", plan="pro")
    assert inside.allowed
    assert inside.grace_period_end is not None
    assert inside.grace_period_end - (now - timedelta(days=2)) == timedelta(days=3)
    outside = fake.check_plan("acct_out", plan="pro")
    assert not outside.allowed
    assert outside.denial_reason is DenialReason.PAYMENT_OVERDUE
    assert outside.plan == "free"


def test_a_plans_file_sets_plans_and_grace(tmp_path: Path) -> None:
    plans = tmp_path / "plans.toml"
    plans.write_text(
        "[policy]\ngrace_period_days = 1\n"
        '[[plans]]\nname = "basic"\nrank = 0\nfeatures = ["a"]\n'
        '[[plans]]\nname = "max"\nrank = 5\nfeatures = ["a", "b"]\nprice_id = "price_1"\n'
        "limits = { seats = 2 }\n"
    )
    fake = FakeBillingClient.from_catalog(plans)
    fake.set_plan("acct_1", "max")

    assert [p.name for p in fake.list_plans()] == ["basic", "max"]
    assert fake.grace_period == timedelta(days=1)
    assert fake.get_entitlements("acct_1").limits == {"seats": 2}


def test_an_idempotency_key_replays_and_refuses_another_request() -> None:
    fake = FakeBillingClient()
    first = fake.create_checkout("acct_1", "pro", idempotency_key="k")

    assert fake.create_checkout("acct_1", "pro", idempotency_key="k") == first
    with pytest.raises(InvalidArgument) as refused:
        fake.create_checkout("acct_1", "enterprise", idempotency_key="k")
    assert refused.value.reason == "IDEMPOTENCY_KEY_REUSED"
