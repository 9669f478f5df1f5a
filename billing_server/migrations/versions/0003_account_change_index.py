"""index accounts by the time of their last change (change polling on SQLite)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_accounts_state_updated_at", "accounts", ["state_updated_at"])


def downgrade() -> None:
    op.drop_index("ix_accounts_state_updated_at", table_name="accounts")
