"""Stripe events as the inbox holds them, and the backlog it reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

EventStatus = Literal["received", "processed", "failed", "deferred", "rejected"]
STATUSES: tuple[EventStatus, ...] = ("received", "processed", "failed", "deferred", "rejected")
# Still to be applied: never tried, failed, or waiting for their account.
PENDING_STATUSES: tuple[EventStatus, ...] = ("received", "failed", "deferred")
# Deferred this long, an event shows in the backlog's overdue count.
OVERDUE_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    status: str
    outcome: str | None
    reason: str | None
    attempts: int
    payload: str
    api_version: str | None
    subject_id: str | None
    customer_id: str | None
    account_hint: str | None
    created: datetime
    received_at: datetime
    processed_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    traceparent: str | None


@dataclass(frozen=True)
class Backlog:
    pending: dict[str, int]
    oldest_received_at: datetime | None
    # Deferred for longer than OVERDUE_AFTER.
    overdue: int
