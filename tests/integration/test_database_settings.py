"""The server's PostgreSQL connections carry their timeouts (PostgreSQL runs only)."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from billing_server import deadlines
from billing_server.adapters.database import connect, make_engine
from billing_server.config import Settings
from billing_server.domain.errors import Unavailable
from billing_server.service_layer.unit_of_work import SqlAlchemyUnitOfWork
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


def test_a_call_waits_for_a_free_connection_only_until_its_deadline(database_url: str) -> None:
    settings = Settings.from_env(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PAYMENTSVC_DB_POOL_SIZE": "1",
            "PAYMENTSVC_DB_MAX_OVERFLOW": "0",
            "PAYMENTSVC_DB_POOL_TIMEOUT": "60",
        }
    )
    database = connect(settings)
    try:
        # A call stuck elsewhere holds the only connection.
        with database.engine.connect() as held:
            held.execute(text("SELECT 1"))
            with (
                deadlines.deadline_in(1.5),
                pytest.raises(Unavailable) as refused,
                SqlAlchemyUnitOfWork(database.reader) as uow,
            ):
                uow.accounts.customer_id("acct_1")
        waited = re.search(r"timeout (\d+\.\d+)", str(refused.value.__cause__))
        assert waited is not None, refused.value.__cause__
        # The pool's timeout as read when it gave up: what the deadline left
        # (nothing by then), not the configured 60 s.
        assert float(waited.group(1)) < 1.5
        # Outside a call (the command-line tools), the configured wait holds.
        pool = database.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.timeout() == 60
    finally:
        database.dispose()
