"""Accounts: who they are in Stripe, and the version of their billing state.

The writes take sets of accounts, one statement each, so that the applier
records many subscriptions in one transaction as cheaply as one.
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing_server.adapters.orm import AccountRow
from billing_server.adapters.subscription_repository import SqlAlchemySubscriptionRepository
from billing_server.domain.subscriptions import AccountState

# PostgreSQL NOTIFY channel of account changes: "<account_id> <state_version>".
CHANGES_CHANNEL = "paymentsvc_account_changes"

# Bulk writes go to the table itself: the ORM's bulk path costs more per row.
_ACCOUNTS = cast(Table, AccountRow.__table__)


class AbstractAccountRepository(abc.ABC):
    @abc.abstractmethod
    def state(self, account_id: str) -> AccountState:
        """The account's billing state; version 0 for an account never seen."""

    @abc.abstractmethod
    def ensure(self, account_ids: Collection[str], now: datetime) -> None:
        """Creates the accounts that do not exist yet (race-safe)."""

    @abc.abstractmethod
    def customer_id(self, account_id: str) -> str | None: ...

    @abc.abstractmethod
    def attach_customer(self, account_id: str, customer_id: str) -> str:
        """Links a Stripe customer unless one is linked already; returns the linked one."""

    @abc.abstractmethod
    def accounts_for_customers(self, customer_ids: Collection[str]) -> dict[str, str]:
        """customer id -> account id, for the customers linked to one."""

    @abc.abstractmethod
    def lock(self, account_ids: Collection[str]) -> None:
        """Holds the accounts' rows until the transaction ends (no-op on SQLite,
        where a writing transaction already holds the database)."""

    @abc.abstractmethod
    def bump_state(self, account_ids: Collection[str], now: datetime) -> None:
        """A new state version for each account; every replica hears of it on commit."""

    def account_for_customer(self, customer_id: str) -> str | None:
        return self.accounts_for_customers([customer_id]).get(customer_id)


class SqlAlchemyAccountRepository(AbstractAccountRepository):
    def __init__(self, session: Session) -> None:
        self.session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"
        # Accounts whose state this transaction changed, with their versions.
        self.changed: dict[str, int] = {}

    def state(self, account_id: str) -> AccountState:
        row = self.session.execute(
            select(
                AccountRow.stripe_customer_id,
                AccountRow.state_version,
                AccountRow.state_updated_at,
            ).where(AccountRow.account_id == account_id)
        ).one_or_none()
        if row is None:
            return AccountState(account_id, None, 0, None, None)
        subscription = SqlAlchemySubscriptionRepository(self.session).current_for(account_id)
        customer, version, updated_at = row
        return AccountState(account_id, customer, int(version), updated_at, subscription)

    def ensure(self, account_ids: Collection[str], now: datetime) -> None:
        if not account_ids:
            return
        insert = postgresql.insert if self._postgres else sqlite.insert
        self.session.execute(
            insert(_ACCOUNTS).on_conflict_do_nothing(index_elements=["account_id"]),
            [
                {"account_id": a, "state_version": 0, "created_at": now}
                for a in sorted(set(account_ids))
            ],
        )

    def customer_id(self, account_id: str) -> str | None:
        return self.session.scalar(
            select(AccountRow.stripe_customer_id).where(AccountRow.account_id == account_id)
        )

    def attach_customer(self, account_id: str, customer_id: str) -> str:
        columns = _ACCOUNTS.c
        self.session.execute(
            update(_ACCOUNTS)
            .where(columns.account_id == account_id, columns.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer_id)
        )
        linked = self.customer_id(account_id)
        assert linked is not None
        return linked

    def accounts_for_customers(self, customer_ids: Collection[str]) -> dict[str, str]:
        if not customer_ids:
            return {}
        rows = self.session.execute(
            select(AccountRow.stripe_customer_id, AccountRow.account_id).where(
                AccountRow.stripe_customer_id.in_(sorted(set(customer_ids)))
            )
        )
        return {str(customer): str(account) for customer, account in rows}

    def lock(self, account_ids: Collection[str]) -> None:
        if not account_ids or not self._postgres:
            return
        # In one order, whoever locks: two writers never wait on each other in a circle.
        self.session.execute(
            select(AccountRow.account_id)
            .where(AccountRow.account_id.in_(sorted(set(account_ids))))
            .order_by(AccountRow.account_id)
            .with_for_update()
        )

    def bump_state(self, account_ids: Collection[str], now: datetime) -> None:
        if not account_ids:
            return
        columns = _ACCOUNTS.c
        versions = self.session.execute(
            update(_ACCOUNTS)
            .where(columns.account_id.in_(sorted(set(account_ids))))
            .values(state_version=columns.state_version + 1, state_updated_at=now)
            .returning(columns.account_id, columns.state_version)
        ).all()
        bumped = {str(account): int(version) for account, version in versions}
        self.changed.update(bumped)
        if self._postgres and bumped:
            # Delivered to every replica's listener when, and only if, this
            # transaction commits.
            self.session.execute(
                text("SELECT pg_notify(:channel, notice) FROM unnest(:notices) AS notice"),
                {
                    "channel": CHANGES_CHANNEL,
                    "notices": [f"{account} {version}" for account, version in bumped.items()],
                },
            )
