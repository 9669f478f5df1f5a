"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from billing_server.adapters.database_deadlines import (
    ConnectionWatchdog,
    DeadlineBoundedPool,
    Reachability,
    guard,
)
from billing_server.adapters.report_queries import SqlReportQueries
from billing_server.config import Settings
from billing_server.domain.errors import Unavailable

_WRITE = "paymentsvc_write"
T = TypeVar("T")


@dataclass(frozen=True)
class Database:
    engine: Engine
    # Sessions for transactions that will write: on SQLite these take the
    # write lock when they begin, so that two writers queue instead of one
    # failing with "database is locked" when it upgrades its read lock.
    writer: sessionmaker[Session]
    reader: sessionmaker[Session]
    # Told by the health probe; on PostgreSQL calls fail fast while it is down.
    reachability: Reachability

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def pool_connections(self) -> dict[str, int]:
        """The pool's connections by state (in_use, idle, overflow); none
        for a pool that does not count them (SQLite's)."""
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return {}
        return {
            "in_use": pool.checkedout(),
            "idle": pool.checkedin(),
            "overflow": max(pool.overflow(), 0),
        }

    def subscription_counts(self) -> list[tuple[str, str, int]]:
        """(plan, status, count) of every subscription, grouped."""
        return answered_or_unavailable(SqlReportQueries(self.engine).counts_by_plan_and_status)

    def run_alone(self, lock_key: int, work: Callable[[], None]) -> bool:
        """Runs `work` unless another process holds the lock `lock_key`;
        True when it ran. On PostgreSQL a session-level advisory lock elects
        one replica; SQLite serves one host, where the caller runs alone."""
        with self.engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                won = connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key}
                )
                if not won:
                    return False
            try:
                work()
            finally:
                if postgres:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key})
                    connection.commit()
        return True


def answered_or_unavailable(read: Callable[[], T]) -> T:
    """`read()`, with any database failure raised as Unavailable."""
    try:
        return read()
    except SQLAlchemyError as exc:
        raise Unavailable(f"the billing database did not answer: {type(exc).__name__}") from exc


def connect(settings: Settings) -> Database:
    """The server's database: on PostgreSQL every wait is bounded."""
    reachability = Reachability()
    engine = make_engine(settings.database_url, settings, reachability=reachability)
    write_engine = engine.execution_options(**{_WRITE: True})
    return Database(
        engine=engine,
        writer=sessionmaker(write_engine, expire_on_commit=False),
        reader=sessionmaker(engine, expire_on_commit=False),
        reachability=reachability,
    )


def normalize_url(url: str) -> URL:
    """`postgresql://` means psycopg2 here, the driver the service ships with
    (SQLAlchemy 2.1 would otherwise pick psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def make_engine(
    url: str, settings: Settings | None = None, *, reachability: Reachability | None = None
) -> Engine:
    """With `reachability`, the engine of a serving process: a statement
    timeout, TCP keepalives and the deadline watch (not for migrations,
    which may take long)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if settings is None:
        return create_engine(parsed, pool_pre_ping=True)
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_s,
        "pool_recycle": settings.db_pool_recycle_s,
    }
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = settings.db_connect_timeout_s
    if reachability is None or parsed.get_backend_name() != "postgresql":
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **options)
    # The guard pings on checkout itself, under the deadline's watch.
    engine = create_engine(
        parsed,
        pool_pre_ping=False,
        poolclass=DeadlineBoundedPool,
        connect_args=connect_args | _bounded_waits(settings),
        **options,
    )
    guard(engine, ConnectionWatchdog(), reachability, settings.db_connect_timeout_s)
    return engine


def _bounded_waits(settings: Settings) -> dict[str, Any]:
    """libpq's settings for a server that may vanish without a word: a dead
    peer is noticed within `db_tcp_timeout_s` (keepalives while idle,
    tcp_user_timeout while data waits for an acknowledgement), and no
    statement runs longer than `db_statement_timeout_s`."""
    tcp_s = settings.db_tcp_timeout_s
    return {
        "keepalives": 1,
        "keepalives_idle": max(1, tcp_s // 2),
        "keepalives_interval": max(1, tcp_s // 6),
        "keepalives_count": 3,
        "tcp_user_timeout": tcp_s * 1000,
        "options": f"-c statement_timeout={settings.db_statement_timeout_s * 1000}",
    }


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
