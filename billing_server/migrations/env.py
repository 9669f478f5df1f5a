"""Alembic environment: migrations run on the engine the caller hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from billing_server.adapters.orm import Base

engine = context.config.attributes["engine"]
assert isinstance(engine, Engine)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
