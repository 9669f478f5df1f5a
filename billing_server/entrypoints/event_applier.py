"""The applier: threads in billing-server that apply stored webhook events.

They sleep on a doorbell that rings when events become due: at once for
events stored or released by this process, through PostgreSQL's NOTIFY for
other replicas' (on SQLite, the only process applies). They also look every
IDLE_POLL_S, for retries whose backoff ran out and events stored by other
processes on SQLite. On PostgreSQL every replica runs an applier, and
`FOR UPDATE SKIP LOCKED` spreads the subscriptions among them.
"""

from __future__ import annotations

import logging
import threading

from billing_server.adapters.doorbell import Doorbell
from billing_server.domain.errors import Unavailable
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.webhooks import Claims, apply_next

log = logging.getLogger(__name__)
IDLE_POLL_S = 1.0
# While the database is away, look again this often.
UNAVAILABLE_PAUSE_S = 2.0


class EventApplier:
    def __init__(self, deps: Dependencies, doorbell: Doorbell, threads: int) -> None:
        self._deps = deps
        self._doorbell = doorbell
        self._claims = Claims()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"event-applier-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Lets every thread finish the subscription it is on, then ends them."""
        self._stopping.set()
        self._doorbell.ring()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)

    def _work(self) -> None:
        while not self._stopping.is_set():
            seen = self._doorbell.rings
            try:
                if apply_next(self._deps, self._claims):
                    continue
            except Unavailable as exc:
                log.warning("event applier: %s; trying again shortly", exc)
                self._stopping.wait(UNAVAILABLE_PAUSE_S)
                continue
            except Exception:
                log.exception("event applier failed; trying again shortly")
                self._stopping.wait(UNAVAILABLE_PAUSE_S)
                continue
            self._doorbell.wait(seen, IDLE_POLL_S)
