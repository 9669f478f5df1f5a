"""webhook inbox

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing_server.adapters.orm import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_stripe_events"),
    )
    op.create_index("ix_stripe_events_customer_id", "stripe_events", ["customer_id"])
    op.create_index("ix_stripe_events_processed_at", "stripe_events", ["processed_at"])
    op.create_index("ix_stripe_events_status", "stripe_events", ["status"])


def downgrade() -> None:
    op.drop_index("ix_stripe_events_status", table_name="stripe_events")
    op.drop_index("ix_stripe_events_processed_at", table_name="stripe_events")
    op.drop_index("ix_stripe_events_customer_id", table_name="stripe_events")

    op.drop_table("stripe_events")
