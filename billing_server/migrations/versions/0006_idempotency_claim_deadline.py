"""idempotency claims end with their request's deadline

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing_server.adapters.orm import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Claims taken before the upgrade have none: they lapse a minute after
    # they were taken, as before.
    with op.batch_alter_table("idempotency_records") as table:
        table.add_column(sa.Column("claimed_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records") as table:
        table.drop_column("claimed_until")
