"""SQLAlchemy table mappings. The Alembic migrations create exactly these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database.

    SQLite has no time zones and hands back naive values; PostgreSQL stores
    timestamptz. Both come back as aware UTC datetimes here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AccountRow(Base):
    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Bumped by every change to the account's billing state; CheckPlan
    # returns it so that callers can order answers.
    state_version: Mapped[int] = mapped_column(BigInteger, default=0)
    state_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (Index(None, "account_id", "stripe_created_at"),)

    stripe_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"))
    stripe_customer_id: Mapped[str] = mapped_column(String(255), index=True)
    plan: Mapped[str] = mapped_column(String(64))
    stripe_price_id: Mapped[str] = mapped_column(String(255))
    stripe_item_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    # A cancellation Stripe will make at this date (`cancel_at`), if any.
    cancel_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Payment history (domain/payments.py): when the subscription last owed
    # nothing, and the failed payments since, as a JSON list of Unix times.
    payments_settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_failures: Mapped[str | None] = mapped_column(Text)
    stripe_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The moment of Stripe's truth this row reflects (an event's `created`,
    # or when the object was fetched): older updates must not overwrite it.
    stripe_state_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyRecordRow(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("method", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    method: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    response: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A pending record's claim lapses with its request's deadline: a retry
    # may take it over from then on.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLogRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(128), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)


# Partial indexes keep the applier's queries on the pending events, few
# among all (domain/stored_events.py's PENDING_STATUSES, spelled in SQL).
_PENDING = text("status IN ('received', 'failed', 'deferred')")


class StripeEventRow(Base):
    """The webhook inbox: every Stripe event, stored before it is applied."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index("ix_stripe_events_due", "next_attempt_at", postgresql_where=_PENDING,
              sqlite_where=_PENDING),
        Index("ix_stripe_events_pending_subject", "subject_id", postgresql_where=_PENDING,
              sqlite_where=_PENDING),
    )  # fmt: skip

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(128))
    # Stripe's `created`, with one-second resolution.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    api_version: Mapped[str | None] = mapped_column(String(64))
    # Personal data removed (adapters/stripe_events.py).
    payload: Mapped[str] = mapped_column(Text)
    # received -> processed | rejected, through failed (retried with backoff)
    # and deferred (waiting for its account) as often as it takes.
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Once processed: applied, superseded, stale or ignored.
    outcome: Mapped[str | None] = mapped_column(String(16))
    # Why it was rejected or deferred: a reason code such as
    # CUSTOMER_LINKED_ELSEWHERE.
    reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The subscription whose events are applied together and in order; the
    # event's own object until the applier has resolved it.
    subject_id: Mapped[str | None] = mapped_column(String(255))
    customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # The account a checkout names (client_reference_id).
    account_hint: Mapped[str | None] = mapped_column(String(128))
    # When the applier may take it next (pending events only).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # W3C trace context of the delivery, so that applying it joins its trace.
    traceparent: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
