"""Subscriptions held in memory, as SqlAlchemySubscriptionRepository keeps them."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from billing_server.adapters.subscription_repository import (
    AbstractSubscriptionRepository,
    RecordedSubscription,
)
from billing_server.domain.payments import PaymentHistory
from billing_server.domain.subscriptions import Subscription, current_subscription
from tests.unit.fake_tables import utc, violated


class FakeSubscriptionRepository(AbstractSubscriptionRepository):
    def __init__(
        self, rows: dict[str, RecordedSubscription], accounts: Mapping[str, object]
    ) -> None:
        self.rows = rows
        # The accounts table, for the subscriptions' foreign key.
        self._accounts = accounts

    def lock(self, subscription_ids: Collection[str]) -> None:
        # As on SQLite: a writing transaction already holds the database.
        pass

    def get(self, subscription_id: str) -> Subscription | None:
        found = self.rows.get(subscription_id)
        return found.subscription if found else None

    def recorded(self, subscription_ids: Collection[str]) -> dict[str, RecordedSubscription]:
        return {s: self.rows[s] for s in sorted(set(subscription_ids)) if s in self.rows}

    def save(self, saved: Sequence[RecordedSubscription]) -> None:
        for item in saved:
            if item.subscription.account_id not in self._accounts:
                violated("fk_subscriptions_account_id_accounts")
            self.rows[item.subscription.id] = _as_stored(item)

    def current_for(self, account_id: str) -> Subscription | None:
        return current_subscription(
            [r.subscription for r in self.rows.values() if r.subscription.account_id == account_id]
        )


def _as_stored(item: RecordedSubscription) -> RecordedSubscription:
    """The row as it reads back: datetimes in UTC, and the open payment
    failures to whole seconds (they are kept as a JSON list of Unix times)."""
    s = item.subscription
    subscription = dataclasses.replace(
        s,
        current_period_start=utc(s.current_period_start),
        current_period_end=utc(s.current_period_end),
        cancel_at=utc(s.cancel_at),
        canceled_at=utc(s.canceled_at),
        ended_at=utc(s.ended_at),
        past_due_since=utc(s.past_due_since),
        created=utc(s.created),
    )
    payments = PaymentHistory(
        utc(item.payments.settled_at),
        tuple(datetime.fromtimestamp(int(t.timestamp()), UTC) for t in item.payments.open_failures),
    )
    return RecordedSubscription(subscription, utc(item.state_at), utc(item.updated_at), payments)
