"""Repositories: the service's view of its tables."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_server.adapters import subscription_locks
from billing_server.adapters.orm import (
    AccountRow,
    AuditLogRow,
    IdempotencyRecordRow,
    SubscriptionRow,
)
from billing_server.domain.audit import AuditEntry
from billing_server.domain.payments import PaymentHistory
from billing_server.domain.subscriptions import (
    AccountState,
    Subscription,
    SubscriptionStatus,
    current_subscription,
)

# PostgreSQL NOTIFY channel of account changes: "<account_id> <state_version>".
CHANGES_CHANNEL = "paymentsvc_account_changes"


class AbstractAccountRepository(abc.ABC):
    @abc.abstractmethod
    def state(self, account_id: str) -> AccountState:
        """The account's billing state; version 0 for an account never seen."""

    @abc.abstractmethod
    def ensure(self, account_id: str, now: datetime) -> None:
        """Creates the account row if it does not exist yet (race-safe)."""

    @abc.abstractmethod
    def customer_id(self, account_id: str) -> str | None: ...

    @abc.abstractmethod
    def attach_customer(self, account_id: str, customer_id: str) -> str:
        """Links a Stripe customer unless one is linked already; returns the linked one."""

    @abc.abstractmethod
    def account_for_customer(self, customer_id: str) -> str | None: ...

    @abc.abstractmethod
    def bump_state(self, account_id: str, now: datetime) -> None: ...

    @abc.abstractmethod
    def lock(self, account_id: str) -> None:
        """Holds the account's row until the transaction ends (no-op on SQLite,
        where a writing transaction already holds the database)."""


@dataclass(frozen=True)
class RecordedSubscription:
    subscription: Subscription
    # Lower bound of the Stripe time of the recorded state.
    state_at: datetime
    # When it was written here.
    updated_at: datetime
    payments: PaymentHistory


class AbstractSubscriptionRepository(abc.ABC):
    @abc.abstractmethod
    def lock(self, subscription_id: str) -> None:
        """Holds the subscription's lock until the transaction ends
        (adapters/subscription_locks.py): every writer takes it first."""

    @abc.abstractmethod
    def get(self, subscription_id: str) -> Subscription | None: ...

    @abc.abstractmethod
    def recorded(self, subscription_id: str) -> RecordedSubscription | None: ...

    @abc.abstractmethod
    def save(
        self,
        subscription: Subscription,
        *,
        stripe_state_at: datetime,
        payments: PaymentHistory,
        now: datetime,
    ) -> None: ...

    @abc.abstractmethod
    def current_for(self, account_id: str) -> Subscription | None: ...


IdempotencyState = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True)
class IdempotencyRecord:
    method: str
    key: str
    fingerprint: str
    state: IdempotencyState
    response: bytes | None
    error: dict[str, str] | None
    updated_at: datetime


class AbstractIdempotencyStore(abc.ABC):
    @abc.abstractmethod
    def claim(
        self, method: str, key: str, fingerprint: str, now: datetime
    ) -> tuple[IdempotencyRecord, bool]:
        """Inserts a pending record, or returns the existing one; True when inserted."""

    @abc.abstractmethod
    def get(self, method: str, key: str) -> IdempotencyRecord | None: ...

    @abc.abstractmethod
    def take_over(self, method: str, key: str, stale_before: datetime, now: datetime) -> bool:
        """Re-claims a pending record abandoned before `stale_before`."""

    @abc.abstractmethod
    def finish(
        self,
        method: str,
        key: str,
        now: datetime,
        *,
        response: bytes | None = None,
        error: dict[str, str] | None = None,
    ) -> None: ...

    @abc.abstractmethod
    def release(self, method: str, key: str) -> None: ...

    @abc.abstractmethod
    def delete_created_before(self, cutoff: datetime, limit: int) -> int: ...


class AbstractAuditLog(abc.ABC):
    @abc.abstractmethod
    def record(self, entry: AuditEntry) -> None: ...


class SqlAlchemyAccountRepository(AbstractAccountRepository):
    def __init__(self, session: Session) -> None:
        self.session = session
        # Accounts whose state this transaction changed, with their versions.
        self.changed: dict[str, int] = {}

    def state(self, account_id: str) -> AccountState:
        row = self.session.get(AccountRow, account_id)
        if row is None:
            return AccountState(account_id, None, 0, None, None)
        subscription = SqlAlchemySubscriptionRepository(self.session).current_for(account_id)
        return AccountState(
            account_id,
            row.stripe_customer_id,
            row.state_version,
            row.state_updated_at,
            subscription,
        )

    def ensure(self, account_id: str, now: datetime) -> None:
        if self.session.get(AccountRow, account_id) is not None:
            return
        try:
            with self.session.begin_nested():
                self.session.add(AccountRow(account_id=account_id, state_version=0, created_at=now))
        except IntegrityError:
            pass  # a concurrent request created it first

    def customer_id(self, account_id: str) -> str | None:
        return self.session.scalar(
            select(AccountRow.stripe_customer_id).where(AccountRow.account_id == account_id)
        )

    def attach_customer(self, account_id: str, customer_id: str) -> str:
        self.session.execute(
            update(AccountRow)
            .where(AccountRow.account_id == account_id, AccountRow.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer_id)
        )
        linked = self.customer_id(account_id)
        assert linked is not None
        return linked

    def account_for_customer(self, customer_id: str) -> str | None:
        return self.session.scalar(
            select(AccountRow.account_id).where(AccountRow.stripe_customer_id == customer_id)
        )

    def lock(self, account_id: str) -> None:
        self.session.execute(
            select(AccountRow.account_id)
            .where(AccountRow.account_id == account_id)
            .with_for_update()
        )

    def bump_state(self, account_id: str, now: datetime) -> None:
        version = self.session.scalar(
            update(AccountRow)
            .where(AccountRow.account_id == account_id)
            .values(state_version=AccountRow.state_version + 1, state_updated_at=now)
            .returning(AccountRow.state_version)
        )
        if version is None:
            return
        self.changed[account_id] = int(version)
        if self.session.get_bind().dialect.name == "postgresql":
            # Delivered to every replica's listener when, and only if, this
            # transaction commits.
            self.session.execute(
                select(func.pg_notify(CHANGES_CHANNEL, f"{account_id} {int(version)}"))
            )


class SqlAlchemySubscriptionRepository(AbstractSubscriptionRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self, subscription_id: str) -> None:
        subscription_locks.lock(self.session, subscription_id)

    def get(self, subscription_id: str) -> Subscription | None:
        row = self.session.get(SubscriptionRow, subscription_id)
        return _subscription(row) if row else None

    def recorded(self, subscription_id: str) -> RecordedSubscription | None:
        row = self.session.get(SubscriptionRow, subscription_id)
        if row is None:
            return None
        payments = PaymentHistory(
            row.payments_settled_at,
            tuple(datetime.fromtimestamp(t, UTC) for t in json.loads(row.payment_failures or "[]")),
        )
        return RecordedSubscription(
            _subscription(row), row.stripe_state_at, row.updated_at, payments
        )

    def save(
        self,
        subscription: Subscription,
        *,
        stripe_state_at: datetime,
        payments: PaymentHistory,
        now: datetime,
    ) -> None:
        row = self.session.get(SubscriptionRow, subscription.id)
        if row is None:
            row = SubscriptionRow(stripe_subscription_id=subscription.id)
            self.session.add(row)
        row.account_id = subscription.account_id
        row.stripe_customer_id = subscription.customer_id
        row.plan = subscription.plan
        row.stripe_price_id = subscription.price_id
        row.stripe_item_id = subscription.item_id
        row.status = subscription.status.value
        row.current_period_start = subscription.current_period_start
        row.current_period_end = subscription.current_period_end
        row.cancel_at_period_end = subscription.cancel_at_period_end
        row.canceled_at = subscription.canceled_at
        row.ended_at = subscription.ended_at
        row.past_due_since = subscription.past_due_since
        row.stripe_created_at = subscription.created
        row.stripe_state_at = stripe_state_at
        row.payments_settled_at = payments.settled_at
        row.payment_failures = (
            json.dumps([int(t.timestamp()) for t in payments.open_failures])
            if payments.open_failures
            else None
        )
        row.updated_at = now
        self.session.flush()

    def current_for(self, account_id: str) -> Subscription | None:
        rows = self.session.scalars(
            select(SubscriptionRow).where(SubscriptionRow.account_id == account_id)
        )
        return current_subscription([_subscription(r) for r in rows])


def _subscription(row: SubscriptionRow) -> Subscription:
    return Subscription(
        id=row.stripe_subscription_id,
        account_id=row.account_id,
        customer_id=row.stripe_customer_id,
        plan=row.plan,
        price_id=row.stripe_price_id,
        item_id=row.stripe_item_id,
        status=SubscriptionStatus(row.status),
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        canceled_at=row.canceled_at,
        ended_at=row.ended_at,
        past_due_since=row.past_due_since,
        created=row.stripe_created_at,
    )


class SqlAlchemyIdempotencyStore(AbstractIdempotencyStore):
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(
        self, method: str, key: str, fingerprint: str, now: datetime
    ) -> tuple[IdempotencyRecord, bool]:
        existing = self.get(method, key)
        if existing is not None:
            return existing, False
        try:
            with self.session.begin_nested():
                self.session.add(
                    IdempotencyRecordRow(
                        method=method,
                        key=key,
                        fingerprint=fingerprint,
                        state="pending",
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raced = self.get(method, key)
            assert raced is not None
            return raced, False
        return IdempotencyRecord(method, key, fingerprint, "pending", None, None, now), True

    def get(self, method: str, key: str) -> IdempotencyRecord | None:
        row = self._row(method, key)
        if row is None:
            return None
        return IdempotencyRecord(
            row.method,
            row.key,
            row.fingerprint,
            _state(row.state),
            row.response,
            json.loads(row.error) if row.error else None,
            row.updated_at,
        )

    def take_over(self, method: str, key: str, stale_before: datetime, now: datetime) -> bool:
        result = self.session.execute(
            update(IdempotencyRecordRow)
            .where(
                IdempotencyRecordRow.method == method,
                IdempotencyRecordRow.key == key,
                IdempotencyRecordRow.state == "pending",
                IdempotencyRecordRow.updated_at < stale_before,
            )
            .values(updated_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    def finish(
        self,
        method: str,
        key: str,
        now: datetime,
        *,
        response: bytes | None = None,
        error: dict[str, str] | None = None,
    ) -> None:
        self.session.execute(
            update(IdempotencyRecordRow)
            .where(IdempotencyRecordRow.method == method, IdempotencyRecordRow.key == key)
            .values(
                state="failed" if error is not None else "succeeded",
                response=response,
                error=json.dumps(error) if error is not None else None,
                updated_at=now,
            )
        )

    def release(self, method: str, key: str) -> None:
        self.session.execute(
            delete(IdempotencyRecordRow).where(
                IdempotencyRecordRow.method == method, IdempotencyRecordRow.key == key
            )
        )

    def delete_created_before(self, cutoff: datetime, limit: int) -> int:
        batch = (
            select(IdempotencyRecordRow.id)
            .where(IdempotencyRecordRow.created_at < cutoff)
            .limit(limit)
        )
        result = self.session.execute(
            delete(IdempotencyRecordRow).where(IdempotencyRecordRow.id.in_(batch))
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def _row(self, method: str, key: str) -> IdempotencyRecordRow | None:
        return self.session.scalar(
            select(IdempotencyRecordRow).where(
                IdempotencyRecordRow.method == method, IdempotencyRecordRow.key == key
            )
        )


def _state(value: str) -> IdempotencyState:
    if value == "pending":
        return "pending"
    if value == "succeeded":
        return "succeeded"
    if value == "failed":
        return "failed"
    raise ValueError(f"unknown idempotency state {value!r}")


class SqlAlchemyAuditLog(AbstractAuditLog):
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, entry: AuditEntry) -> None:
        self.session.add(
            AuditLogRow(
                occurred_at=entry.occurred_at,
                actor=entry.actor,
                action=entry.action,
                account_id=entry.account_id,
                outcome=entry.outcome,
                idempotency_key=entry.idempotency_key,
                detail=json.dumps(entry.detail, sort_keys=True) if entry.detail else None,
            )
        )
