"""Fixtures shared by every test layer.

The suite runs on SQLite by default; with PAYMENTSVC_TEST_DATABASE_URL set to
a PostgreSQL URL it runs on a fresh database created on that server for the
session (and dropped afterwards), so that runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from billing_server.adapters import migrations
from billing_server.adapters.database import make_engine, normalize_url

TEST_DATABASE_ENV = "PAYMENTSVC_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for the whole session."""
    with fresh_database(tmp_path_factory) as url:
        yield url


@contextmanager
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database of its own: a file on SQLite, or a database
    created on the PostgreSQL server (dropped afterwards)."""
    server_url = os.environ.get(TEST_DATABASE_ENV)
    if not server_url:
        path: Path = tmp_path_factory.mktemp("db") / "billing.sqlite3"
        url = f"sqlite:///{path}"
        _migrate(url)
        yield url
        return

    name = f"paymentsvc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = normalize_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture
def account_id() -> str:
    """A fresh account per test: tests share a database, never an account."""
    return f"acct_{uuid.uuid4().hex[:16]}"
