"""A subscription made the way a customer makes one: a checkout started,
paid in (fake) Stripe, and confirmed, through the service layer."""

from __future__ import annotations

from billing_server.service_layer import checkout
from billing_server.service_layer.dependencies import Dependencies
from tests.fakes import FakeStripeGateway


def subscribe(
    deps: Dependencies, stripe: FakeStripeGateway, account_id: str, plan: str = "pro"
) -> None:
    session = checkout.create_checkout(
        deps,
        account_id=account_id,
        plan_name=plan,
        customer_email=None,
        idempotency_key=None,
        actor="test",
    )
    stripe.complete(session.id)
    checkout.confirm_checkout(deps, session_id=session.id, account_id=account_id, actor="test")
