"""The reads behind `billing-admin account show`: one account, its
subscriptions, its webhook events and its audit trail, each read in a
session of its own and handed out as the domain's values."""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from sqlalchemy import Engine, Table, or_, select
from sqlalchemy.orm import Session

from billing_server.adapters.audit_log import audit_entry
from billing_server.adapters.orm import AccountRow, AuditLogRow, StripeEventRow, SubscriptionRow
from billing_server.adapters.sql_event_inbox import stored_event
from billing_server.adapters.subscription_repository import recorded_subscription
from billing_server.domain.accounts import Account
from billing_server.domain.audit import AuditEntry
from billing_server.domain.stored_events import StoredEvent
from billing_server.domain.subscriptions import Subscription

_SUBSCRIPTIONS = cast(Table, SubscriptionRow.__table__)
_EVENTS = cast(Table, StripeEventRow.__table__)


class SqlSupportQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def account(self, account_id: str) -> Account | None:
        with Session(self._engine) as session:
            row = session.get(AccountRow, account_id)
            if row is None:
                return None
            return Account(
                id=row.account_id,
                customer_id=row.stripe_customer_id,
                state_version=row.state_version,
                state_updated_at=row.state_updated_at,
                created_at=row.created_at,
            )

    def subscriptions(self, account_id: str) -> list[Subscription]:
        """Oldest first: the last is the newest."""
        query = (
            select(*_SUBSCRIPTIONS.columns)
            .where(SubscriptionRow.account_id == account_id)
            .order_by(SubscriptionRow.stripe_created_at)
        )
        with Session(self._engine) as session:
            return [recorded_subscription(row).subscription for row in session.execute(query)]

    def events(
        self,
        account_id: str,
        customer_ids: Collection[str],
        subscription_ids: Collection[str],
        limit: int,
    ) -> list[StoredEvent]:
        """The account's latest events: by its customers, its subscriptions,
        or the checkout that named it."""
        query = (
            select(*_EVENTS.columns)
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
            return [stored_event(row) for row in session.execute(query)]

    def audit(self, account_id: str, limit: int) -> list[AuditEntry]:
        query = (
            select(AuditLogRow)
            .where(AuditLogRow.account_id == account_id)
            .order_by(AuditLogRow.occurred_at.desc(), AuditLogRow.id.desc())
            .limit(limit)
        )
        with Session(self._engine) as session:
            return [audit_entry(row) for row in session.scalars(query)]
