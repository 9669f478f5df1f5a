"""The applier: threads in billing-server that apply stored webhook events.

They sleep on a doorbell that rings when events become due: at once for
events stored or released by this process, through PostgreSQL's NOTIFY for
other replicas' (on SQLite, the only process applies). They also look every
IDLE_POLL_S, for retries whose backoff ran out and events stored by other
processes on SQLite. On PostgreSQL every replica runs an applier, and
`FOR UPDATE SKIP LOCKED` spreads the subscriptions among them.

A transaction costs about as much for one subscription as for dozens, so
a thread woken by a ring lets LINGER_S pass before it claims, and what
arrived meanwhile is applied together; a thread that finds a full batch
goes on at once, and rings for another to help.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from billing_server.domain.errors import BillingError, Unavailable
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.doorbell import Doorbell
from billing_server.service_layer.webhooks import (
    BATCH_SUBJECTS,
    Claims,
    apply_next,
    read_stored_without_subject,
)

log = logging.getLogger(__name__)
IDLE_POLL_S = 1.0
# Far below what anyone waits for an event to apply; long enough for a
# stream of deliveries to gather into one transaction.
LINGER_S = 0.05
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
        if self._threads:
            try:
                read_stored_without_subject(self._deps)
            except (BillingError, SQLAlchemyError):
                log.exception("could not read events stored without their subscription")
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Lets every thread finish the subscription it is on, then ends them."""
        self._stopping.set()
        self._doorbell.ring_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)

    def _work(self) -> None:
        while not self._stopping.is_set():
            seen = self._doorbell.rings
            try:
                taken = apply_next(self._deps, self._claims)
                if taken >= BATCH_SUBJECTS:
                    self._doorbell.ring()  # more is waiting: another thread too
                    continue
            except Unavailable as exc:
                log.warning("event applier: %s; trying again shortly", exc)
                self._stopping.wait(UNAVAILABLE_PAUSE_S)
                continue
            except Exception:
                log.exception("event applier failed; trying again shortly")
                self._stopping.wait(UNAVAILABLE_PAUSE_S)
                continue
            if not taken:
                self._doorbell.wait(seen, IDLE_POLL_S)
            # Whatever arrives meanwhile goes into the next transaction.
            self._stopping.wait(LINGER_S)
