"""CheckPlan: the hot path. It answers from the in-memory view, filled from
the database on a miss; never from Stripe."""

from __future__ import annotations

from billing_server.domain.entitlements import (
    Decision,
    FeatureRequirement,
    PlanRequirement,
    Requirement,
    decide,
)
from billing_server.domain.subscriptions import AccountState
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
    if deps.view is None:
        state = _load(deps, account_id)
    else:
        state = deps.view.get(account_id, lambda a: _load(deps, a))
    return decide(state, requirement, deps.catalog, deps.clock())


def _load(deps: Dependencies, account_id: str) -> AccountState:
    with deps.uow() as uow:
        return uow.accounts.state(account_id)
