"""Fills the entitlement view at start and keeps it current afterwards.

One thread per server process. It loads every account (the change listener
is already listening, so a change committed during the load is heard and
wins over the load's older read), then reads again the accounts the change
feed marks outdated, in batches, and after the feed was lost, finds the
accounts changed since the view was last known current.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from billing_server.adapters.entitlement_view import EntitlementView
from billing_server.adapters.standing_reader import StandingReader

log = logging.getLogger(__name__)
REFRESH_BATCH = 500
# A transaction stamps state_updated_at with its writer's clock before it
# commits; the catch-up looks this far further back, for slow commits and
# for clock differences between replicas.
CATCH_UP_OVERLAP = timedelta(seconds=30)


class ViewKeeper:
    def __init__(
        self,
        view: EntitlementView,
        reader: StandingReader,
        *,
        on_loaded: Callable[[], None] = lambda: None,
        retry_s: float = 1.0,
    ) -> None:
        self._view = view
        self._reader = reader
        self.on_loaded = on_loaded
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="view-keeper", daemon=True)
        self.loaded = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._view.wanted.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def load(self) -> int:
        started = time.monotonic()
        accounts = 0
        self._view.expect(self._reader.count())
        for batch in self._reader.each():
            self._view.put_encoded(batch)
            accounts += len(batch)
        self._view.loaded()
        log.info(
            "entitlement view loaded: %d accounts in %.1f s", accounts, time.monotonic() - started
        )
        return accounts

    def refresh(self) -> int:
        """Reads again the accounts marked outdated; how many were read."""
        # Once per wake: an account whose newer version is not readable yet
        # (a lagging read replica) waits for the next round, not a busy loop.
        accounts = self._view.outdated()
        for start in range(0, len(accounts), REFRESH_BATCH):
            if self._stop.is_set():
                break
            self._view.put_encoded(self._reader.of(accounts[start : start + REFRESH_BATCH]))
        return len(accounts)

    def catch_up(self) -> None:
        since = self._view.catch_up_since
        if since is None:
            return
        changed = self._reader.changed_since(since - CATCH_UP_OVERLAP)
        for account_id, version in changed.items():
            self._view.changed(account_id, version)
        self._view.caught_up(since)
        log.info("entitlement view caught up: %d accounts changed while out of touch", len(changed))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.load()
                break
            except SQLAlchemyError as exc:
                log.warning("entitlement view cannot load (%s); retrying", exc)
                self._stop.wait(self._retry_s)
        if self._stop.is_set():
            return
        self.loaded.set()
        self.on_loaded()
        while not self._stop.is_set():
            self._view.wanted.wait(self._retry_s)
            self._view.wanted.clear()
            try:
                self.catch_up()
                self.refresh()
            except SQLAlchemyError as exc:
                log.warning("entitlement view cannot refresh (%s); retrying", exc)
                self._stop.wait(self._retry_s)
