"""What billing-server's webhook inbox and subscriptions table hold, read by the bench.

Read through the service's own table mappings, so that timestamps come back
as UTC datetimes on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from sqlalchemy import Engine, func, select

from bench._database import engine
from billing_server.adapters.orm import StripeEventRow, SubscriptionRow
from billing_server.domain.stored_events import PENDING_STATUSES


@dataclass(frozen=True)
class EventRow:
    event_id: str
    type: str
    status: str
    outcome: str | None
    attempts: int
    received_at: datetime
    processed_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class RecordedSubscription:
    status: str
    plan: str
    price_id: str
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None


def events_of(url: str, id_prefix: str) -> list[EventRow]:
    """Every stored event whose id starts with `id_prefix` (one part's)."""
    table = StripeEventRow
    query = select(
        table.event_id,
        table.type,
        table.status,
        table.outcome,
        table.attempts,
        table.received_at,
        table.processed_at,
        table.last_error,
    ).where(table.event_id.startswith(id_prefix, autoescape=True))
    db = engine(url)
    try:
        with db.connect() as connection:
            return [EventRow(*row) for row in connection.execute(query)]
    finally:
        db.dispose()


def subscriptions_of(url: str, id_prefix: str) -> dict[str, RecordedSubscription]:
    table = SubscriptionRow
    query = select(
        table.stripe_subscription_id,
        table.status,
        table.plan,
        table.stripe_price_id,
        table.cancel_at_period_end,
        table.current_period_start,
        table.current_period_end,
    ).where(table.stripe_subscription_id.startswith(id_prefix, autoescape=True))
    db = engine(url)
    try:
        with db.connect() as connection:
            return {
                str(row[0]): RecordedSubscription(*row[1:]) for row in connection.execute(query)
            }
    finally:
        db.dispose()


def pending_count(db: Engine) -> int:
    query = select(func.count()).where(StripeEventRow.status.in_(PENDING_STATUSES))
    with db.connect() as connection:
        return int(connection.scalar(query) or 0)


class BacklogWatch:
    """Counts pending events every `interval_s` while a part sends, and after
    it, until a count finds none.

        with BacklogWatch(url) as backlog:
            ...send...
            drain_s = backlog.drained(timeout_s=600)
        backlog.peak
    """

    def __init__(self, url: str, interval_s: float = 0.5) -> None:
        self._engine = engine(url, pool_size=1)
        self._interval_s = interval_s
        self._over_at: float | None = None
        self._drained_at: float | None = None
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="backlog-watch", daemon=True)
        self.peak = 0
        self.last: int | None = None
        self.error: str | None = None

    def __enter__(self) -> BacklogWatch:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._engine.dispose()

    def drained(self, timeout_s: float) -> float | None:
        """Call once sending is over: the seconds from this call to the first
        count, begun after it, that found nothing pending; None at the deadline."""
        self._over_at = time.monotonic()
        self._done.wait(timeout_s)
        if self._drained_at is None:
            return None
        return self._drained_at - self._over_at

    def _poll(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                count = pending_count(self._engine)
            except Exception as exc:  # a busy database: count again next time
                self.error = f"{type(exc).__name__}: {exc}"
            else:
                self.last = count
                self.peak = max(self.peak, count)
                over_at = self._over_at
                if count == 0 and over_at is not None and began >= over_at:
                    self._drained_at = time.monotonic()
                    self._done.set()
                    return
            self._stop.wait(max(0.0, self._interval_s - (time.monotonic() - began)))
