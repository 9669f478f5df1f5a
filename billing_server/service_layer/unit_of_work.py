"""Units of work: one database transaction that commits whole or not at all."""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from billing_server.adapters.account_repository import (
    AbstractAccountRepository,
    SqlAlchemyAccountRepository,
)
from billing_server.adapters.audit_log import AbstractAuditLog, SqlAlchemyAuditLog
from billing_server.adapters.event_inbox import AbstractEventInbox
from billing_server.adapters.idempotency_store import (
    AbstractIdempotencyStore,
    SqlAlchemyIdempotencyStore,
)
from billing_server.adapters.sql_event_inbox import SqlAlchemyEventInbox
from billing_server.adapters.subscription_repository import (
    AbstractSubscriptionRepository,
    SqlAlchemySubscriptionRepository,
)
from billing_server.domain.errors import Unavailable


class AbstractUnitOfWork(abc.ABC):
    accounts: AbstractAccountRepository
    subscriptions: AbstractSubscriptionRepository
    idempotency: AbstractIdempotencyStore
    audit: AbstractAuditLog
    events: AbstractEventInbox

    def __enter__(self) -> Self:
        self._after_commit: list[Callable[[], None]] = []
        return self

    def after_commit(self, action: Callable[[], None]) -> None:
        """Runs `action` once the transaction has committed (never on rollback)."""
        self._after_commit.append(action)

    def commit(self) -> None:
        self._commit()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    def rollback(self) -> None:
        self._after_commit = []
        self._rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Anything not committed explicitly is rolled back: no half-writes.
        self.rollback()

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def _rollback(self) -> None: ...


# A factory opens a fresh unit of work; `write=True` asks for one that will
# write (on SQLite it takes the write lock up front).
UnitOfWorkFactory = Callable[..., AbstractUnitOfWork]


# Told, after a commit, which accounts changed and their new state versions.
ChangeListener = Callable[[dict[str, int]], None]


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(
        self,
        session_factory: Callable[[], Session],
        on_changes: ChangeListener | None = None,
        on_events_due: Callable[[], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._on_changes = on_changes
        self._on_events_due = on_events_due

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self.accounts: SqlAlchemyAccountRepository = SqlAlchemyAccountRepository(self.session)
        self.subscriptions = SqlAlchemySubscriptionRepository(self.session)
        self.idempotency = SqlAlchemyIdempotencyStore(self.session)
        self.audit = SqlAlchemyAuditLog(self.session)
        self.events: SqlAlchemyEventInbox = SqlAlchemyEventInbox(self.session)
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        except DBAPIError:
            pass  # the connection is gone; closing the session discards it
        finally:
            self.session.close()
        if isinstance(exc, DBAPIError) and _is_disconnect(exc):
            raise Unavailable("the billing database is unreachable; retry later") from exc
        if isinstance(exc, PoolTimeout):
            # Every connection is busy (with calls stuck in a partition, say)
            # until this call's deadline or the pool's timeout.
            raise Unavailable("no database connection was free in time; retry later") from exc

    def _commit(self) -> None:
        self.session.commit()
        changed, self.accounts.changed = self.accounts.changed, {}
        due, self.events.made_due = self.events.made_due, False
        if changed and self._on_changes is not None:
            self._on_changes(changed)
        if due and self._on_events_due is not None:
            # This replica's applier at once; the others hear PostgreSQL's NOTIFY.
            self._on_events_due()

    def _rollback(self) -> None:
        self.accounts.changed = {}
        self.events.made_due = False
        self.session.rollback()


def _is_disconnect(exc: DBAPIError) -> bool:
    # OperationalError covers refused connections and timeouts; a connection
    # that died mid-query is flagged by SQLAlchemy as invalidated.
    from sqlalchemy.exc import OperationalError

    return exc.connection_invalidated or isinstance(exc, OperationalError)
