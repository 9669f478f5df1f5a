"""Keeps the health status in step with the database's reachability."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

log = logging.getLogger(__name__)


class DatabaseProbe:
    """Pings the database (`ping` is True when it answers) every
    `interval_s` in a thread of its own and reports each change of
    reachability to `on_change`. A ping without an
    answer within an interval counts as unreachable: a silent partition
    flips readiness within two intervals, not when TCP gives up."""

    def __init__(
        self, ping: Callable[[], bool], on_change: Callable[[bool], None], interval_s: float = 2.0
    ) -> None:
        self._ping = ping
        self._on_change = on_change
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-probe", daemon=True)
        self._reachable = True
        self._pinger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-ping")
        self._ping_pending: Future[bool] | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s + 5)
        self._pinger.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            reachable = self._answered_ping()
            if reachable != self._reachable and not self._stop.is_set():
                self._reachable = reachable
                log.warning("database %s", "reachable again" if reachable else "unreachable")
                self._on_change(reachable)

    def _answered_ping(self) -> bool:
        # One ping at a time: a stuck one is waited for, not piled upon.
        if self._ping_pending is None or self._ping_pending.done():
            self._ping_pending = self._pinger.submit(self._ping)
        try:
            return self._ping_pending.result(timeout=self._interval_s)
        except FutureTimeout:
            return False
