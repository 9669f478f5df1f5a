"""Stripe's billing portal, where customers manage cards and invoices."""

from __future__ import annotations

from billing_server.domain.errors import FailedPrecondition
from billing_server.service_layer import validation
from billing_server.service_layer.audit import record_outcome
from billing_server.service_layer.dependencies import Dependencies


def create_portal_session(deps: Dependencies, *, account_id: str, actor: str) -> str:
    validation.account_id(account_id)
    with deps.uow() as uow:
        customer_id = uow.accounts.customer_id(account_id)
    if customer_id is None:
        raise FailedPrecondition(
            f"account {account_id!r} has no Stripe customer yet; start a checkout first",
            reason="NO_CUSTOMER",
        )
    url = deps.stripe.create_portal_session(customer_id, deps.urls.portal_return)
    record_outcome(
        deps, actor=actor, action="CreatePortalSession", account_id=account_id, outcome="ok"
    )
    return url
