"""CheckPlan: the hot path. It reads the database only, never Stripe."""

from __future__ import annotations

from billing_server.domain.entitlements import (
    Decision,
    FeatureRequirement,
    PlanRequirement,
    Requirement,
    decide,
)
from billing_server.service_layer import validation
from billing_server.service_layer.dependencies import Dependencies


def plan_requirement(plan: str) -> PlanRequirement:
    return PlanRequirement(validation.name(plan, "plan"))


def feature_requirement(feature: str) -> FeatureRequirement:
    return FeatureRequirement(validation.name(feature, "feature"))


def check_plan(deps: Dependencies, account_id: str, requirement: Requirement) -> Decision:
    validation.account_id(account_id)
    # Unknown plans and features fail before the database is touched.
    if isinstance(requirement, PlanRequirement):
        deps.catalog.require(requirement.plan)
    else:
        deps.catalog.lowest_with_feature(requirement.feature)
    with deps.uow() as uow:
        state = uow.accounts.state(account_id)
    return decide(state, requirement, deps.catalog, deps.clock())
