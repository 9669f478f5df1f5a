"""webhook pipeline: events applied asynchronously, per subscription, with payment history

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing_server.adapters.orm import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PENDING = sa.text("status IN ('received', 'failed', 'deferred')")


def upgrade() -> None:
    with op.batch_alter_table("stripe_events") as table:
        table.add_column(sa.Column("api_version", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("reason", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("subject_id", sa.String(length=255), nullable=True))
        table.add_column(sa.Column("account_hint", sa.String(length=128), nullable=True))
        table.add_column(sa.Column("next_attempt_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("traceparent", sa.String(length=64), nullable=True))
    # Events stored before the upgrade have no subject yet: the applier reads
    # their payload again and fills it in. They are due now.
    op.execute(
        "UPDATE stripe_events SET next_attempt_at = received_at "
        "WHERE status IN ('received', 'failed', 'deferred')"
    )
    op.create_index(
        "ix_stripe_events_due",
        "stripe_events",
        ["next_attempt_at"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    op.create_index(
        "ix_stripe_events_pending_subject",
        "stripe_events",
        ["subject_id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    with op.batch_alter_table("subscriptions") as table:
        table.add_column(sa.Column("payments_settled_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("payment_failures", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as table:
        table.drop_column("payment_failures")
        table.drop_column("payments_settled_at")
    op.drop_index("ix_stripe_events_pending_subject", table_name="stripe_events")
    op.drop_index("ix_stripe_events_due", table_name="stripe_events")
    # The old code knows no `rejected`: such events count as failed again.
    op.execute("UPDATE stripe_events SET status = 'failed' WHERE status = 'rejected'")
    with op.batch_alter_table("stripe_events") as table:
        table.drop_column("traceparent")
        table.drop_column("next_attempt_at")
        table.drop_column("account_hint")
        table.drop_column("subject_id")
        table.drop_column("reason")
        table.drop_column("api_version")
