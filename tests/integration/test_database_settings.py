"""The server's PostgreSQL connections carry their timeouts (PostgreSQL runs only)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from billing_server.adapters.database import connect, make_engine
from billing_server.config import Settings
from tests.conftest import TEST_DATABASE_ENV

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get(TEST_DATABASE_ENV), reason="needs PostgreSQL"),
]


def test_the_server_s_connections_time_out_statements_and_keep_alive(database_url: str) -> None:
    settings = Settings.from_env(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PAYMENTSVC_DB_STATEMENT_TIMEOUT": "7",
            "PAYMENTSVC_DB_TCP_TIMEOUT": "12",
        }
    )
    database = connect(settings)
    try:
        with database.engine.connect() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == "7s"
            dsn = connection.connection.dbapi_connection.get_dsn_parameters()  # type: ignore[union-attr]
        assert dsn["keepalives"] == "1"
        assert dsn["tcp_user_timeout"] == "12000"
    finally:
        database.dispose()


def test_migrations_run_without_a_statement_timeout(database_url: str) -> None:
    engine = make_engine(database_url, Settings.from_env({"SQLALCHEMY_DATABASE_URI": database_url}))
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == "0"
    finally:
        engine.dispose()
