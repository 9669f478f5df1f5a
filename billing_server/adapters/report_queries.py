"""The reads behind the subscription report: grouped counts of the
subscriptions table, and the stored subscription and invoice events, in
batches (the inbox keeps PAYMENTSVC_EVENT_RETENTION_DAYS of them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from billing_server.adapters.orm import StripeEventRow, SubscriptionRow

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
PAYMENT_EVENTS = ("invoice.payment_failed", "invoice.payment_succeeded")
BATCH = 1000


@dataclass(frozen=True)
class ReportEvent:
    event_id: str
    type: str
    subject_id: str | None
    created_at: datetime
    payload: str


class SqlReportQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def counts_by_plan_and_status(self) -> list[tuple[str, str, int]]:
        query = select(SubscriptionRow.plan, SubscriptionRow.status, func.count()).group_by(
            SubscriptionRow.plan, SubscriptionRow.status
        )
        with self._engine.connect() as connection:
            return [(p, s, int(n)) for p, s, n in connection.execute(query)]

    def created_by_plan(self, since: datetime, until: datetime) -> dict[str, int]:
        return self._by_plan(SubscriptionRow.stripe_created_at, since, until)

    def ended_by_plan(self, since: datetime, until: datetime) -> dict[str, int]:
        return self._by_plan(SubscriptionRow.ended_at, since, until)

    def plans_of_prices(self) -> dict[str, str]:
        """The plan each price we have recorded stands for."""
        query = select(SubscriptionRow.stripe_price_id, SubscriptionRow.plan).distinct()
        with self._engine.connect() as connection:
            return {str(price): str(plan) for price, plan in connection.execute(query)}

    def count_events(self, types: tuple[str, ...], until: datetime) -> int:
        query = select(func.count()).where(
            StripeEventRow.type.in_(types), StripeEventRow.created_at <= until
        )
        with self._engine.connect() as connection:
            return int(connection.scalar(query) or 0)

    def events(self, types: tuple[str, ...], until: datetime) -> Iterator[list[ReportEvent]]:
        """Stored events of these types up to `until`, oldest first, in batches."""
        after: tuple[datetime, str] | None = None
        order = (StripeEventRow.created_at, StripeEventRow.event_id)
        while True:
            query = (
                select(
                    StripeEventRow.event_id,
                    StripeEventRow.type,
                    StripeEventRow.subject_id,
                    StripeEventRow.created_at,
                    StripeEventRow.payload,
                )
                .where(StripeEventRow.type.in_(types), StripeEventRow.created_at <= until)
                .order_by(*order)
                .limit(BATCH)
            )
            if after is not None:
                at, event_id = after
                query = query.where(
                    or_(
                        StripeEventRow.created_at > at,
                        and_(StripeEventRow.created_at == at, StripeEventRow.event_id > event_id),
                    )
                )
            with self._engine.connect() as connection:
                batch = [ReportEvent(*row) for row in connection.execute(query)]
            if not batch:
                return
            yield batch
            after = (batch[-1].created_at, batch[-1].event_id)

    def _by_plan(self, column: Any, since: datetime, until: datetime) -> dict[str, int]:
        query = (
            select(SubscriptionRow.plan, func.count())
            .where(column >= since, column < until)
            .group_by(SubscriptionRow.plan)
        )
        with self._engine.connect() as connection:
            return {plan: int(n) for plan, n in connection.execute(query)}
