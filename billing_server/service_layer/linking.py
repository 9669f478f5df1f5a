"""Linking a Stripe customer to an account, and what waited for the link."""

from __future__ import annotations

from datetime import datetime

from billing_server.service_layer.unit_of_work import AbstractUnitOfWork


def link_customer(uow: AbstractUnitOfWork, account_id: str, customer_id: str, now: datetime) -> str:
    """Links the customer unless the account has one already; returns the
    account's customer. Events deferred until this customer found its
    account become due, in the same transaction."""
    uow.accounts.ensure([account_id], now)
    linked = uow.accounts.attach_customer(account_id, customer_id)
    if linked == customer_id:
        uow.events.release_deferred(now, customer_id=customer_id)
    return linked
