"""Scheduled maintenance inside the server: replay missed events, reconcile.

Every replica runs the schedule, but one at a time does the work: on
PostgreSQL a session-level advisory lock elects it for each run.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import Engine, text

from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.event_recovery import replay_missed_events
from billing_server.service_layer.reconciliation import reconcile

log = logging.getLogger(__name__)
# An arbitrary constant naming this job among PostgreSQL advisory locks.
ADVISORY_LOCK_KEY = 7_461_200_001


class Maintenance:
    def __init__(self, deps: Dependencies, engine: Engine, interval_s: float) -> None:
        self._deps = deps
        self._engine = engine
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="maintenance", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def run_once(self) -> bool:
        """Runs the job if this replica wins the lock; True when it ran."""
        with self._engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                won = connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                if not won:
                    return False
            try:
                self._work()
            finally:
                if postgres:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                    )
                    connection.commit()
        return True

    def _work(self) -> None:
        # Replay twice the interval back, so that a missed run leaves no gap.
        since = self._deps.clock() - timedelta(seconds=max(self._interval_s * 2, 3600))
        # Stored only: the applier applies them like any delivery.
        replayed = replay_missed_events(self._deps, since)
        report = reconcile(self._deps, fix=True)
        self._deps.telemetry.reconciled(report.count("missing"), report.count("different"))
        log.info(
            "maintenance: stored %d missed event(s); reconciled %d subscription(s), drift %d, "
            "fixed %d, failed %d",
            len(replayed.stored),
            report.checked,
            len(report.drift),
            report.fixed,
            report.failed,
        )

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.run_once()
            except Exception:
                log.exception("scheduled maintenance failed; next run in %.0fs", self._interval_s)
