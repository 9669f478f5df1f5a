"""Hears every replica's account changes through PostgreSQL LISTEN/NOTIFY.

One dedicated connection per server process LISTENs on the channel that
committed changes NOTIFY, and on the one that rings when webhook events
become due (stored, released or retried) on any replica. A connection lost
means notifications may have been missed: the listener reports the loss,
with the last moment it knew it was hearing everything, and reconnects with
backoff; once it listens anew it reports that, so that what changed in
between can be looked up, and rings for due events.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import Engine

from billing_server.adapters.account_repository import CHANGES_CHANNEL
from billing_server.adapters.event_inbox import EVENTS_CHANNEL

log = logging.getLogger(__name__)
APPLICATION_NAME = "paymentsvc-listener"


class ChangeListener:
    def __init__(
        self,
        engine: Engine,
        on_change: Callable[[str, int], None],
        on_lost: Callable[[datetime], None],
        on_regained: Callable[[], None],
        *,
        on_events_due: Callable[[], None] | None = None,
        keepalive_s: float = 2.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._connect_args = engine.dialect.create_connect_args(engine.url)
        self._on_change = on_change
        self._on_lost = on_lost
        self._on_regained = on_regained
        # The last moment the connection was known to be up: everything
        # committed before it has been heard.
        self._last_contact = datetime.now(UTC)
        self._on_events_due = on_events_due or (lambda: None)
        self._keepalive_s = keepalive_s
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        # Written to on stop, so that a select() waiting for notices wakes up.
        self._wake_read, self._wake_write = os.pipe()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="change-listener", daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        self._listening.wait(timeout_s)

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_write, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=self._keepalive_s + 5)
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def _run(self) -> None:
        backoff = 0.1
        missed = False  # notifications may have been missed since the last contact
        while not self._stop.is_set():
            try:
                connection = self._connect()
            except psycopg2.Error as exc:
                log.warning("change listener cannot connect (%s); retrying", exc)
                if not missed:
                    missed = True
                    self._on_lost(self._last_contact)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            backoff = 0.1
            self._last_contact = datetime.now(UTC)
            if missed:
                # Whatever changed while nobody listened must be looked up.
                missed = False
                self._on_regained()
                self._on_events_due()
            self._listening.set()
            try:
                self._listen(connection)
            except (psycopg2.Error, OSError) as exc:
                if not self._stop.is_set():
                    log.warning("change listener lost its connection (%s)", exc)
                    self._listening.clear()
                    missed = True
                    self._on_lost(self._last_contact)
            finally:
                _close(connection)

    def _connect(self) -> Any:
        args, kwargs = self._connect_args
        connection = psycopg2.connect(*args, **{**kwargs, "application_name": APPLICATION_NAME})
        connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANGES_CHANNEL}")
            cursor.execute(f"LISTEN {EVENTS_CHANNEL}")
        return connection

    def _listen(self, connection: Any) -> None:
        last_check = time.monotonic()
        while not self._stop.is_set():
            readable, _, _ = select.select([connection, self._wake_read], [], [], self._keepalive_s)
            if connection in readable:
                connection.poll()
                due = False
                while connection.notifies:
                    notice = connection.notifies.pop(0)
                    if notice.channel == EVENTS_CHANNEL:
                        due = True  # one ring for any number of notices
                    else:
                        self._deliver(notice.payload)
                if due:
                    self._on_events_due()
            if time.monotonic() - last_check >= self._keepalive_s:
                # A dead TCP connection can stay silent: ask, and fail loudly.
                asked = datetime.now(UTC)
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                last_check = time.monotonic()
                self._last_contact = asked

    def _deliver(self, payload: str) -> None:
        account_id, _, version = payload.rpartition(" ")
        if account_id and version.isdigit():
            self._on_change(account_id, int(version))


def _close(connection: Any) -> None:
    with contextlib.suppress(psycopg2.Error):
        connection.close()
