"""CheckPlan and GetEntitlements: the hot path. They answer from the
in-memory view, and read the database only when the view cannot vouch for
its answer; never Stripe.

The database is read when the view does not hold the account yet (before
its load is complete), when a newer version of the account was committed
and not read yet, or when the caller asks for at least a version the view
does not hold (`min_state_version`: read-your-writes across replicas).

When the change feed is lost, the view keeps answering for up to its
`stale_max`, each answer marked stale with the moment the view was last
known current; past that, the database is read, and if it is unreachable
too, the call is UNAVAILABLE.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from billing_server.adapters.entitlement_view import LIVE, Freshness
from billing_server.domain.entitlements import (
    Decision,
    Entitlements,
    FeatureRequirement,
    PlanRequirement,
    Requirement,
    decide,
    entitlements,
)
from billing_server.domain.errors import FailedPrecondition, InvalidArgument, Unavailable
from billing_server.domain.subscriptions import AccountStanding
from billing_server.service_layer import validation
from billing_server.service_layer.dependencies import Dependencies


class Source(enum.Enum):
    VIEW = "view"
    DATABASE = "database"


@dataclass(frozen=True, slots=True)
class Read:
    standing: AccountStanding
    source: Source
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class Checked:
    decision: Decision
    source: Source
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class Entitled:
    entitlements: Entitlements
    source: Source
    freshness: Freshness


def plan_requirement(plan: str) -> PlanRequirement:
    return PlanRequirement(validation.name(plan, "plan"))


def feature_requirement(feature: str) -> FeatureRequirement:
    return FeatureRequirement(validation.name(feature, "feature"))


def _answered(deps: Dependencies, read: Read) -> Read:
    deps.telemetry.entitlement_answered("stale" if read.freshness.stale else read.source.value)
    return read


def check_plan(
    deps: Dependencies, account_id: str, requirement: Requirement, min_state_version: int = 0
) -> Checked:
    validation.account_id(account_id)
    # Unknown plans and features fail before anything is read.
    if isinstance(requirement, PlanRequirement):
        deps.catalog.require(requirement.plan)
    else:
        deps.catalog.lowest_with_feature(requirement.feature)
    read = _answered(deps, read_standing(deps, account_id, min_state_version))
    decision = decide(read.standing, requirement, deps.catalog, deps.clock())
    return Checked(decision, read.source, read.freshness)


def get_entitlements(deps: Dependencies, account_id: str, min_state_version: int = 0) -> Entitled:
    validation.account_id(account_id)
    read = _answered(deps, read_standing(deps, account_id, min_state_version))
    return Entitled(
        entitlements(read.standing, deps.catalog, deps.clock()), read.source, read.freshness
    )


def read_standing(deps: Dependencies, account_id: str, min_state_version: int = 0) -> Read:
    if min_state_version < 0:
        raise InvalidArgument("min_state_version must be >= 0", field="min_state_version")
    view = deps.view
    if view is None:
        return _from_database(deps, account_id, min_state_version)
    held = view.held(account_id)
    freshness = view.freshness()
    if held is not None and held.state_version >= min_state_version:
        if freshness.known_current_at is None:
            if view.current(held):
                return Read(held, Source.VIEW, LIVE)
        elif deps.clock() - freshness.known_current_at <= view.stale_max:
            # Out of touch with the database: the last-known answer, marked.
            return Read(held, Source.VIEW, freshness)
    fresh = _from_database(deps, account_id, min_state_version)
    view.put(fresh.standing)
    return fresh


def _from_database(deps: Dependencies, account_id: str, min_state_version: int) -> Read:
    try:
        with deps.uow() as uow:
            standing = uow.accounts.state(account_id).standing
    except Unavailable as exc:
        raise Unavailable(
            "the billing database is unreachable and the entitlement view cannot vouch "
            "for this account; retry later",
            reason=exc.reason,
        ) from exc
    if standing.state_version < min_state_version:
        raise FailedPrecondition(
            f"account {account_id!r} is at state version {standing.state_version}; "
            f"version {min_state_version} was asked for",
            reason="STATE_VERSION_AHEAD",
            field="min_state_version",
            metadata={"state_version": str(standing.state_version)},
        )
    return Read(standing, Source.DATABASE, LIVE)
