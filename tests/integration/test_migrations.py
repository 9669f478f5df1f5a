"""The migrations: they build the models' schema, and every one downgrades."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from billing_server.adapters import migrations
from billing_server.adapters.database import make_engine, normalize_url
from billing_server.adapters.orm import Base
from billing_server.domain.errors import BillingError
from tests.conftest import TEST_DATABASE_ENV

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    server_url = os.environ.get(TEST_DATABASE_ENV)
    if not server_url:
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    # A schema of its own on the PostgreSQL server, so the shared test
    # database keeps its tables.
    schema = f"migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(
        normalize_url(server_url), connect_args={"options": f"-csearch_path={schema}"}
    )
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_upgrade_builds_exactly_the_models(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    migrations.downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(empty_engine)
    assert {"accounts", "subscriptions", "idempotency_records", "audit_log"} <= set(
        inspect(empty_engine).get_table_names()
    )


def test_the_server_refuses_a_schema_behind_head(empty_engine: Engine) -> None:
    with pytest.raises(BillingError, match="billing-admin migrate"):
        migrations.ensure_at_head(empty_engine)
    migrations.upgrade(empty_engine)
    migrations.ensure_at_head(empty_engine)
