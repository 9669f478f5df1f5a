"""GetEntitlements and CheckPlan answer alike for every plan and status
(service_layer/entitlement_checks.py), from what is recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing_server.domain.entitlements import FeatureRequirement, PlanRequirement
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan, get_entitlements
from tests.subscriptions import a_subscription
from tests.subscriptions import record as record_subscription

pytestmark = pytest.mark.unit

NOW = datetime.now(UTC)


def record(deps: Dependencies, account_id: str, plan: str, status: SubscriptionStatus) -> None:
    past_due = status is SubscriptionStatus.PAST_DUE
    subscription = a_subscription(
        account_id,
        subscription_id=f"sub_{account_id}",
        item_id=f"si_{account_id}",
        created=NOW - timedelta(days=3),
        plan=plan,
        status=status,
        past_due_since=NOW - timedelta(days=2) if past_due else None,
    )
    record_subscription(deps.uow, subscription, NOW)


@pytest.mark.parametrize(
    "status",
    [SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELED, None],
)
def test_get_entitlements_agrees_with_check_plan(
    deps: Dependencies, status: SubscriptionStatus | None
) -> None:
    catalog = deps.catalog
    features = sorted({f for plan in catalog.plans for f in plan.features})
    for plan in catalog.plans:
        account = f"acct_{plan.name}"
        if status is not None:
            record(deps, account, plan.name, status)
        entitled = get_entitlements(deps, account).entitlements
        for feature in features:
            check = check_plan(deps, account, FeatureRequirement(feature)).decision
            assert check.allowed == (feature in entitled.features), (plan.name, feature)
        for required in catalog.plans:
            check = check_plan(deps, account, PlanRequirement(required.name)).decision
            rank = entitled.plan.rank if entitled.plan else -1
            assert check.allowed == (rank >= required.rank), (plan.name, required.name)
            assert check.plan == (entitled.plan.name if entitled.plan else None)
        assert entitled.state_version == (0 if status is None else 1)


def test_get_entitlements_carries_the_plan_limits(deps: Dependencies) -> None:
    record(deps, "acct_1", "pro", SubscriptionStatus.ACTIVE)
    entitled = get_entitlements(deps, "acct_1").entitlements
    assert entitled.plan is not None
    assert dict(entitled.plan.limits) == {"projects": 100, "seats": 10}
