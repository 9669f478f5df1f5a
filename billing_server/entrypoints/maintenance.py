"""Scheduled maintenance inside the server: replay missed events, reconcile.

Every replica runs the schedule, but one at a time does the work: on
PostgreSQL a session-level advisory lock elects it for each run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.event_recovery import replay_missed_events
from billing_server.service_layer.reconciliation import reconcile

log = logging.getLogger(__name__)
# An arbitrary constant naming this job among PostgreSQL advisory locks.
ADVISORY_LOCK_KEY = 7_461_200_001
# Runs the work unless another replica holds the lock; True when it ran.
RunAlone = Callable[[int, Callable[[], None]], bool]


class Maintenance:
    def __init__(self, deps: Dependencies, run_alone: RunAlone, interval_s: float) -> None:
        self._deps = deps
        self._run_alone = run_alone
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
        return self._run_alone(ADVISORY_LOCK_KEY, self._work)

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
