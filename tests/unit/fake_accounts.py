"""Accounts held in memory, as SqlAlchemyAccountRepository keeps them."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from billing_server.adapters.account_repository import AbstractAccountRepository
from billing_server.domain.subscriptions import AccountState
from tests.unit.fake_subscriptions import FakeSubscriptionRepository
from tests.unit.fake_tables import utc, violated


@dataclass(frozen=True)
class AccountRecord:
    customer_id: str | None
    state_version: int
    state_updated_at: datetime | None
    created_at: datetime


class FakeAccountRepository(AbstractAccountRepository):
    def __init__(
        self, rows: dict[str, AccountRecord], subscriptions: FakeSubscriptionRepository
    ) -> None:
        self.rows = rows
        self._subscriptions = subscriptions
        # Accounts whose state this transaction changed, with their versions.
        self.changed: dict[str, int] = {}

    def state(self, account_id: str) -> AccountState:
        row = self.rows.get(account_id)
        if row is None:
            return AccountState(account_id, None, 0, None, None)
        subscription = self._subscriptions.current_for(account_id)
        return AccountState(
            account_id, row.customer_id, row.state_version, row.state_updated_at, subscription
        )

    def ensure(self, account_ids: Collection[str], now: datetime) -> None:
        created = utc(now)
        for account_id in sorted(set(account_ids)):
            self.rows.setdefault(account_id, AccountRecord(None, 0, None, created))

    def customer_id(self, account_id: str) -> str | None:
        row = self.rows.get(account_id)
        return row.customer_id if row else None

    def attach_customer(self, account_id: str, customer_id: str) -> str:
        row = self.rows.get(account_id)
        if row is not None and row.customer_id is None:
            if any(r.customer_id == customer_id for r in self.rows.values()):
                violated("uq_accounts_stripe_customer_id")
            self.rows[account_id] = dataclasses.replace(row, customer_id=customer_id)
        linked = self.customer_id(account_id)
        assert linked is not None
        return linked

    def accounts_for_customers(self, customer_ids: Collection[str]) -> dict[str, str]:
        wanted = set(customer_ids)
        return {
            row.customer_id: account_id
            for account_id, row in self.rows.items()
            if row.customer_id is not None and row.customer_id in wanted
        }

    def lock(self, account_ids: Collection[str]) -> None:
        # As on SQLite: a writing transaction already holds the database.
        pass

    def bump_state(self, account_ids: Collection[str], now: datetime) -> None:
        for account_id in sorted(set(account_ids)):
            row = self.rows.get(account_id)
            if row is None:
                continue  # the UPDATE matches no row
            bumped = dataclasses.replace(
                row, state_version=row.state_version + 1, state_updated_at=utc(now)
            )
            self.rows[account_id] = bumped
            self.changed[account_id] = bumped.state_version
