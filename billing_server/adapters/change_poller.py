"""Hears account changes made by other processes on SQLite, by polling.

SQLite has no NOTIFY. Changes made in this process reach the view at once;
changes made by another process on the same file (a `billing-admin events
replay`, say) are found by polling the accounts changed since the last look,
with an overlap that covers transactions committing a little after the time
they stamped. A failed poll reports the feed lost, the next good one regained.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from billing_server.adapters.orm import AccountRow

log = logging.getLogger(__name__)
OVERLAP = timedelta(seconds=5)


class ChangePoller:
    def __init__(
        self,
        engine: Engine,
        on_change: Callable[[str, int], None],
        interval_s: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        on_lost: Callable[[datetime], None] = lambda _at: None,
        on_regained: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._on_change = on_change
        self._on_lost = on_lost
        self._on_regained = on_regained
        self._interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="change-poller", daemon=True)
        self._watermark = clock()
        self._seen: dict[str, int] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval_s + 5)

    def poll(self) -> None:
        query = select(
            AccountRow.account_id, AccountRow.state_version, AccountRow.state_updated_at
        ).where(AccountRow.state_updated_at > self._watermark - OVERLAP)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        for account_id, version, updated_at in rows:
            if self._seen.get(account_id) != version:
                self._seen[account_id] = version
                self._on_change(account_id, int(version))
            if updated_at is not None and updated_at > self._watermark:
                self._watermark = updated_at
        if len(self._seen) > 100_000:
            # Bounded memory; at worst some accounts are invalidated twice.
            self._seen.clear()

    def _run(self) -> None:
        last_ok: datetime | None = self._clock()
        while not self._stop.wait(self._interval_s):
            asked = self._clock()
            try:
                self.poll()
            except SQLAlchemyError as exc:
                log.warning("change poller failed (%s); retrying", exc)
                if last_ok is not None:
                    self._on_lost(last_ok)
                    last_ok = None
                continue
            if last_ok is None:
                self._on_regained()
            last_ok = asked
