"""The reads behind `billing-admin account show`: one account's row, its
subscriptions, its webhook events and its audit trail (detached rows, read
in sessions of their own)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from billing_server.adapters.orm import AccountRow, AuditLogRow, StripeEventRow, SubscriptionRow


class SqlSupportQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def account(self, account_id: str) -> AccountRow | None:
        with Session(self._engine) as session:
            return session.get(AccountRow, account_id)

    def subscriptions(self, account_id: str) -> list[SubscriptionRow]:
        query = (
            select(SubscriptionRow)
            .where(SubscriptionRow.account_id == account_id)
            .order_by(SubscriptionRow.stripe_created_at)
        )
        with Session(self._engine) as session:
            return list(session.scalars(query))

    def events(
        self,
        account_id: str,
        customer_ids: Collection[str],
        subscription_ids: Collection[str],
        limit: int,
    ) -> list[StripeEventRow]:
        """The account's latest events: by its customers, its subscriptions,
        or the checkout that named it."""
        query = (
            select(StripeEventRow)
            .where(
                or_(
                    StripeEventRow.customer_id.in_(list(customer_ids)),
                    StripeEventRow.subject_id.in_(list(subscription_ids)),
                    StripeEventRow.account_hint == account_id,
                )
            )
            .order_by(StripeEventRow.created_at.desc(), StripeEventRow.event_id.desc())
            .limit(limit)
        )
        with Session(self._engine) as session:
            return list(session.scalars(query))

    def audit(self, account_id: str, limit: int) -> list[AuditLogRow]:
        query = (
            select(AuditLogRow)
            .where(AuditLogRow.account_id == account_id)
            .order_by(AuditLogRow.occurred_at.desc(), AuditLogRow.id.desc())
            .limit(limit)
        )
        with Session(self._engine) as session:
            return list(session.scalars(query))
