"""Subscriptions as recorded here: every one an account has had, with when
the Stripe state it reflects was true and its payment history.

Reads and writes take sets of subscriptions, one statement each, so that
the applier records many in one transaction as cheaply as one.
"""

from __future__ import annotations

import abc
import functools
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Row, Table, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from billing_server.adapters import subscription_locks
from billing_server.adapters.orm import SubscriptionRow
from billing_server.adapters.unnest_insert import column_arrays, unnest_insert
from billing_server.domain.payments import PaymentHistory
from billing_server.domain.subscriptions import (
    Subscription,
    SubscriptionStatus,
    current_subscription,
)

# Bulk writes go to the table itself: the ORM's bulk path costs more per row.
_SUBSCRIPTIONS = cast(Table, SubscriptionRow.__table__)


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
    def lock(self, subscription_ids: Collection[str]) -> None:
        """Holds the subscriptions' locks until the transaction ends
        (adapters/subscription_locks.py): every writer takes them first."""

    @abc.abstractmethod
    def get(self, subscription_id: str) -> Subscription | None: ...

    @abc.abstractmethod
    def recorded(self, subscription_ids: Collection[str]) -> dict[str, RecordedSubscription]: ...

    @abc.abstractmethod
    def save(self, saved: Sequence[RecordedSubscription]) -> None:
        """Writes each subscription with its state time and payments
        (`updated_at` is when it is written)."""

    @abc.abstractmethod
    def current_for(self, account_id: str) -> Subscription | None: ...


class SqlAlchemySubscriptionRepository(AbstractSubscriptionRepository):
    def __init__(self, session: Session) -> None:
        self.session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"

    def lock(self, subscription_ids: Collection[str]) -> None:
        subscription_locks.lock(self.session, subscription_ids)

    def get(self, subscription_id: str) -> Subscription | None:
        found = self.recorded([subscription_id]).get(subscription_id)
        return found.subscription if found else None

    def recorded(self, subscription_ids: Collection[str]) -> dict[str, RecordedSubscription]:
        if not subscription_ids:
            return {}
        rows = self.session.execute(
            select(*_COLUMNS).where(
                SubscriptionRow.stripe_subscription_id.in_(sorted(set(subscription_ids)))
            )
        )
        return {str(row.stripe_subscription_id): recorded_subscription(row) for row in rows}

    def save(self, saved: Sequence[RecordedSubscription]) -> None:
        if not saved:
            return
        rows = [_values(s) for s in saved]
        if not self._postgres:
            # In process: one statement per row costs no round trip.
            self.session.execute(_sqlite_upsert(), rows)
            return
        self.session.execute(_POSTGRES_UPSERT, column_arrays(_SUBSCRIPTIONS, rows))

    def current_for(self, account_id: str) -> Subscription | None:
        rows = self.session.execute(
            select(*_COLUMNS).where(SubscriptionRow.account_id == account_id)
        )
        return current_subscription([recorded_subscription(r).subscription for r in rows])


_COLUMNS = tuple(_SUBSCRIPTIONS.columns)
_CHANGING = [c.name for c in _COLUMNS if c.name != "stripe_subscription_id"]
_POSTGRES_UPSERT = text(
    unnest_insert(_SUBSCRIPTIONS)
    + " ON CONFLICT (stripe_subscription_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _CHANGING)
)


@functools.cache
def _sqlite_upsert() -> Any:
    statement = sqlite.insert(_SUBSCRIPTIONS)
    changing = {c: statement.excluded[c] for c in _CHANGING}
    return statement.on_conflict_do_update(index_elements=["stripe_subscription_id"], set_=changing)


def recorded_subscription(row: Row[Any]) -> RecordedSubscription:
    subscription = Subscription(
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
        cancel_at=row.cancel_at,
        canceled_at=row.canceled_at,
        ended_at=row.ended_at,
        past_due_since=row.past_due_since,
        created=row.stripe_created_at,
    )
    failures = json.loads(row.payment_failures or "[]")
    payments = PaymentHistory(
        row.payments_settled_at, tuple(datetime.fromtimestamp(t, UTC) for t in failures)
    )
    return RecordedSubscription(subscription, row.stripe_state_at, row.updated_at, payments)


def _values(saved: RecordedSubscription) -> dict[str, Any]:
    s, payments = saved.subscription, saved.payments
    return {
        "stripe_subscription_id": s.id,
        "account_id": s.account_id,
        "stripe_customer_id": s.customer_id,
        "plan": s.plan,
        "stripe_price_id": s.price_id,
        "stripe_item_id": s.item_id,
        "status": s.status.value,
        "current_period_start": s.current_period_start,
        "current_period_end": s.current_period_end,
        "cancel_at_period_end": s.cancel_at_period_end,
        "cancel_at": s.cancel_at,
        "canceled_at": s.canceled_at,
        "ended_at": s.ended_at,
        "past_due_since": s.past_due_since,
        "payments_settled_at": payments.settled_at,
        "payment_failures": (
            json.dumps([int(t.timestamp()) for t in payments.open_failures])
            if payments.open_failures
            else None
        ),
        "stripe_created_at": s.created,
        "stripe_state_at": saved.state_at,
        "updated_at": saved.updated_at,
    }
