"""PostgreSQL waits bounded by the deadline of the call being served.

A silent partition (packets held, not refused) leaves a query waiting for an
answer that never comes; the kernel's keepalives and `tcp_user_timeout`
notice only after seconds, and not at all when something in between still
acknowledges the packets. So a connection checked out by a call with a
deadline is watched: just before the deadline its socket is shut down, the
query fails at once, the transaction is rolled back by the server, and the
call answers UNAVAILABLE while its caller still listens. Connections are
also pinged on checkout under the same watch (SQLAlchemy's own pre-ping
would run before anyone could watch it).

A new connection cannot be watched before it exists: its connect timeout is
what is left of the deadline, though libpq waits two seconds at least. A
wait for a free connection of the pool ends before the deadline too: calls
stuck in a partition hold every connection, and the calls behind them
answer UNAVAILABLE in time. And once the health probe has found the
database unreachable, calls fail at once instead of waiting for it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import socket
import threading
import time
from typing import Any

import psycopg2
from sqlalchemy import Engine, event, exc
from sqlalchemy.pool import QueuePool

from billing_server import deadlines
from billing_server.domain.errors import Unavailable

log = logging.getLogger(__name__)

_WATCH = "paymentsvc_watch"
_FRESH = "paymentsvc_fresh"


class DeadlineBoundedPool(QueuePool):
    """A QueuePool whose wait for a free connection (PAYMENTSVC_DB_POOL_TIMEOUT)
    ends, within a call, before the call's deadline does.

    QueuePool reads `_timeout` each time it waits; here that is the
    configured timeout, or less when the call being served has less left.
    The deadline is the serving thread's own, so no call shortens another's.
    """

    @property
    def _timeout(self) -> float:
        left = deadlines.remaining()
        if left is None:
            return self._configured_timeout
        return max(0.0, min(self._configured_timeout, left - deadlines.ANSWER_MARGIN_S))

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._configured_timeout = value

    def recreate(self) -> QueuePool:
        pool = super().recreate()
        # super() passed the timeout as read in this call.
        pool._timeout = self._configured_timeout
        return pool


class Reachability:
    """What the health probe last found; calls fail fast while it is False."""

    def __init__(self) -> None:
        self.reachable = True

    def set(self, reachable: bool) -> None:
        self.reachable = reachable


class ConnectionWatchdog:
    """Shuts down the socket of each watched connection still watched at
    its time."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._due: list[tuple[float, int]] = []
        self._watched: dict[int, Any] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, dbapi_connection: Any, at: float) -> int:
        with self._lock:
            token = next(self._ids)
            self._watched[token] = dbapi_connection
            heapq.heappush(self._due, (at, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
            self._lock.notify()
        return token

    def forget(self, token: int) -> None:
        with self._lock:
            self._watched.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._due and self._due[0][1] not in self._watched:
                    heapq.heappop(self._due)  # forgotten already
                if not self._due:
                    self._lock.wait()
                    continue
                at, token = self._due[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._due)
                connection = self._watched.pop(token)
                # Under the lock: a connection is forgotten before it is
                # closed, so its descriptor cannot belong to another by now.
                _shut_down(connection)


def _shut_down(dbapi_connection: Any) -> None:
    if getattr(dbapi_connection, "closed", True):
        return
    try:
        sock = socket.socket(fileno=dbapi_connection.fileno())
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
        log.warning("cut a database connection still waiting at its call's deadline")
    except OSError:
        pass
    finally:
        sock.detach()  # the descriptor stays the driver's


def guard(
    engine: Engine,
    watchdog: ConnectionWatchdog,
    reachability: Reachability,
    connect_timeout_s: int,
) -> None:
    """Installs the watch and the checkout ping on `engine` (PostgreSQL)."""

    def admit() -> float | None:
        """What is left of the current call's deadline (None: no call)."""
        left = _left()
        if left is None:
            return None
        if left <= 0:
            raise _too_late()
        if not reachability.reachable:
            raise Unavailable(
                "the billing database is unreachable; retry later",
                reason="DATABASE_UNAVAILABLE",
            )
        return left

    @event.listens_for(engine, "do_connect")
    def _connect_within_deadline(
        dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]
    ) -> None:
        left = admit()
        if left is not None:
            # libpq counts whole seconds, and no fewer than two.
            cparams["connect_timeout"] = max(2, min(connect_timeout_s, math.floor(left)))

    @event.listens_for(engine, "connect")
    def _mark_fresh(dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _watch_and_ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        left = admit()
        if left is not None:
            record.info[_WATCH] = watchdog.watch(dbapi_connection, time.monotonic() + left)
        if record.info.pop(_FRESH, False):
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except psycopg2.Error as error:
            _forget(record, watchdog)
            # The pool replaces the connection and checks the new one out.
            raise exc.DisconnectionError(str(error)) from error

    @event.listens_for(engine, "checkin")
    def _unwatch(dbapi_connection: Any, record: Any) -> None:
        _forget(record, watchdog)

    @event.listens_for(engine, "invalidate")
    def _unwatch_invalid(dbapi_connection: Any, record: Any, exception: Any) -> None:
        _forget(record, watchdog)


def _left() -> float | None:
    left = deadlines.remaining()
    # The margin leaves the call its answer, not more database work.
    return None if left is None else left - deadlines.ANSWER_MARGIN_S / 2


def _forget(record: Any, watchdog: ConnectionWatchdog) -> None:
    token = record.info.pop(_WATCH, None)
    if token is not None:
        watchdog.forget(token)


def _too_late() -> Unavailable:
    return Unavailable(
        "the billing database did not answer within the call's deadline; retry later",
        reason="DATABASE_UNAVAILABLE",
    )
