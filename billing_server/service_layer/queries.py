"""Read-only questions about plans and subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

from billing_server.domain.errors import NotFound
from billing_server.domain.plans import Plan
from billing_server.domain.subscriptions import AccountState
from billing_server.service_layer import validation
from billing_server.service_layer.dependencies import Dependencies


def list_plans(deps: Dependencies) -> Sequence[Plan]:
    return deps.catalog.plans


def get_subscription(deps: Dependencies, account_id: str) -> AccountState:
    validation.account_id(account_id)
    with deps.uow() as uow:
        state = uow.accounts.state(account_id)
    if state.subscription is None:
        raise NotFound(
            f"account {account_id!r} has no subscription",
            reason="SUBSCRIPTION_NOT_FOUND",
            metadata={"account_id": account_id},
        )
    return state
