"""Plan checks through the library against the real billing-server."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from billing_client import (
    AsyncBillingClient,
    BillingClient,
    DenialReason,
    FeatureRequired,
    PlanRequired,
    SubscriptionStatus,
    requires_feature,
    requires_plan,
)
from tests.e2e.client.conftest import handled, subscribe
from tests.e2e.conftest import BillingServer, Emulator

pytestmark = pytest.mark.e2e


def test_decorators_allow_and_deny_by_plan_and_feature(
    client: BillingClient, emulator: Emulator, account_id: str
) -> None:
    @requires_plan("pro", client=client)
    def export(account_id: str) -> str:
        return "exported"

    @requires_feature("exports", client=client)
    def export_csv(account_id: str) -> str:
        return "csv"

    @requires_plan("enterprise", client=client)
    def audit(account_id: str) -> str:
        return "audited"

    @requires_feature("sso", client=client)
    def sso(account_id: str) -> str:
        return "signed in"

    with pytest.raises(PlanRequired) as before:
        export(account_id)
    assert before.value.denial_reason is DenialReason.NO_SUBSCRIPTION
    assert before.value.check.plan == "free"

    subscription = subscribe(client, emulator, account_id, "pro")

    # confirm_checkout invalidated the cached denial: the change shows at once.
    assert export(account_id) == "exported"
    assert export_csv(account_id) == "csv"
    with pytest.raises(PlanRequired) as too_low:
        audit(account_id)
    with pytest.raises(FeatureRequired) as missing:
        sso(account_id)

    assert too_low.value.denial_reason is DenialReason.PLAN_TOO_LOW
    assert too_low.value.required_plan == "enterprise"
    assert missing.value.denial_reason is DenialReason.FEATURE_NOT_INCLUDED
    assert missing.value.required_plan == "enterprise"
    check = too_low.value.check
    assert check.plan == "pro"
    assert check.status is SubscriptionStatus.ACTIVE
    assert check.state_version == subscription.state_version
    assert isinstance(check.current_period_end, datetime)
    assert check.current_period_end.tzinfo is not None
    assert check.current_period_end == subscription.current_period_end


def test_cached_answers_make_no_rpc(
    billing_server: BillingServer, client: BillingClient, account_id: str
) -> None:
    @requires_plan("free", client=client)
    def view(account_id: str) -> str:
        return "seen"

    before = handled(billing_server, "CheckPlan")
    results = [view(account_id) for _ in range(50)]

    assert results == ["seen"] * 50
    assert handled(billing_server, "CheckPlan") == before + 1
    assert (client.stats.rpcs, client.stats.hits) == (1, 49)


def test_a_hundred_concurrent_checks_make_one_rpc(
    billing_server: BillingServer, client: BillingClient, account_id: str
) -> None:
    start = threading.Barrier(100)

    def check() -> bool:
        start.wait(10)
        return client.check_access(account_id, plan="pro").allowed

    before = handled(billing_server, "CheckPlan")
    with ThreadPoolExecutor(max_workers=100) as pool:
        answers = list(pool.map(lambda _: check(), range(100)))

    assert answers == [False] * 100
    assert handled(billing_server, "CheckPlan") == before + 1
    assert client.stats.rpcs == 1
    assert client.stats.shared + client.stats.hits == 99


def test_a_hundred_concurrent_async_checks_make_one_rpc(
    billing_server: BillingServer, account_id: str
) -> None:
    async def main() -> list[bool]:
        async with AsyncBillingClient(
            billing_server.target,
            service_name="client-e2e",
            insecure=True,
            token=billing_server.token,
        ) as client:
            checks = await asyncio.gather(
                *(client.check_access(account_id, feature="projects") for _ in range(100))
            )
            assert client.stats.rpcs == 1
            return [c.allowed for c in checks]

    before = handled(billing_server, "CheckPlan")
    assert asyncio.run(main()) == [True] * 100
    assert handled(billing_server, "CheckPlan") == before + 1


def test_async_decorators_and_client(
    billing_server: BillingServer, emulator: Emulator, account_id: str
) -> None:
    async def main() -> None:
        async with AsyncBillingClient(
            billing_server.target,
            service_name="client-e2e",
            insecure=True,
            token=billing_server.token,
            check_timeout=5,
        ) as client:

            @requires_plan("pro", client=client)
            async def export(account_id: str) -> str:
                return "exported"

            with pytest.raises(PlanRequired):
                await export(account_id)
            session = await client.create_checkout(account_id, "pro")
            emulator.complete_checkout(session.session_id)
            confirmed = await client.confirm_checkout(session.session_id, account_id=account_id)
            assert confirmed.plan == "pro"
            assert await export(account_id) == "exported"

            plans = await client.list_plans()
            assert [p.name for p in plans] == ["free", "pro", "enterprise"]
            fetched = await client.get_subscription(account_id)
            assert fetched == confirmed
            changed = await client.change_plan(account_id, "enterprise")
            assert changed.plan == "enterprise"
            assert (await client.check_access(account_id, feature="sso")).allowed
            canceled = await client.cancel_subscription(account_id)
            assert canceled.cancel_at_period_end
            assert (await client.create_portal_session(account_id)).url

    asyncio.run(main())


def test_get_entitlements_answers_every_feature_check_at_once(
    client: BillingClient, emulator: Emulator, account_id: str
) -> None:
    subscribe(client, emulator, account_id, "pro")
    entitled = client.get_entitlements(account_id)
    plans = {p.name: p for p in client.list_plans()}
    every_feature = sorted({f for p in plans.values() for f in p.features})

    assert entitled.plan == "pro"
    assert entitled.plan_rank == plans["pro"].rank
    assert entitled.status is SubscriptionStatus.ACTIVE
    assert entitled.limits == {"projects": 100, "seats": 10}  # from plans.toml
    for feature in every_feature:
        assert entitled.allows(feature) == client.check_plan(account_id, feature=feature).allowed
    assert not entitled.stale
