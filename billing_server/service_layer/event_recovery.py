"""Recovering events: storing those never delivered, retrying those that did not apply."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from billing_server.adapters import stripe_events
from billing_server.domain.errors import InvalidArgument
from billing_server.domain.events import HANDLED_TYPES
from billing_server.domain.stored_events import PENDING_STATUSES, Backlog, EventStatus, StoredEvent
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.ingest import store_events
from billing_server.service_layer.webhooks import apply_all_due

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayReport:
    listed: int
    already_stored: int
    stored: list[str]
    # Stripe listed it, and it is no event this service can read.
    unreadable: int


@dataclass(frozen=True)
class ApplyReport:
    """Where the events handled by a command stand afterwards, by status."""

    statuses: dict[str, int]

    def count(self, status: str) -> int:
        return self.statuses.get(status, 0)


def replay_missed_events(deps: Dependencies, since: datetime) -> ReplayReport:
    """Stores Stripe's events since `since` that were never stored. They come
    from Stripe's own API, so they need no signature; the applier applies
    them like any other. Safe to run any time."""
    listed = already = unreadable = 0
    fresh = []
    for payload in deps.stripe.list_events(since, sorted(HANDLED_TYPES)):
        listed += 1
        try:
            fresh.append((stripe_events.read_event(payload), None))
        except InvalidArgument:
            log.warning("Stripe listed an event this service cannot read; skipped")
            unreadable += 1
    with deps.uow() as uow:
        known = uow.events.known(event.id for event, _ in fresh)
    missing = [(event, trace) for event, trace in fresh if event.id not in known]
    already = len(fresh) - len(missing)
    # Oldest first, as Stripe created them.
    missing.sort(key=lambda pair: pair[0].created)
    stored = store_events(deps.uow, missing, deps.clock()) if missing else []
    return ReplayReport(
        listed,
        already,
        [event.id for (event, _), new in zip(missing, stored, strict=True) if new],
        unreadable,
    )


def retry_events(
    deps: Dependencies,
    statuses: Collection[EventStatus] = ("failed", "deferred"),
    event_ids: Collection[str] = (),
    limit: int = 1000,
) -> list[str]:
    """Makes events due now, whatever their backoff or status: the ones named,
    or else the oldest `limit` of these statuses. Returns their ids."""
    with deps.uow(write=True) as uow:
        ids = list(event_ids) or [e.id for e in uow.events.listing(statuses, limit)]
        if ids:
            uow.events.make_due(ids, deps.clock())
        uow.commit()
    return ids


def apply_in_process(
    deps: Dependencies,
    event_ids: Collection[str],
    limit: int,
    *,
    wait_s: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ApplyReport:
    """Applies what is due here and now (a command's own applier), and reports
    where `event_ids` stand afterwards. A running server's applier may have
    taken some of them: their outcome is waited for, up to `wait_s`."""
    # Due now (stored, or made due, before this call): an event still due as
    # of this moment has not been tried since, here or by a server. A tried
    # one is finished, or due again only after a backoff.
    as_of = deps.clock()
    give_up_at = clock() + wait_s
    while True:
        apply_all_due(deps, limit)
        events = _stored_events(deps, event_ids)
        untried = [e for e in events if _due_by(e, as_of)]
        if not untried or clock() >= give_up_at:
            return ApplyReport(dict(Counter(e.status for e in events)))
        sleep(0.2)


def _due_by(event: StoredEvent, moment: datetime) -> bool:
    return event.status in PENDING_STATUSES and (
        event.next_attempt_at is None or event.next_attempt_at <= moment
    )


def _stored_events(deps: Dependencies, event_ids: Collection[str]) -> list[StoredEvent]:
    with deps.uow() as uow:
        return [e for event_id in event_ids if (e := uow.events.get(event_id)) is not None]


def list_events(deps: Dependencies, statuses: Collection[str], limit: int) -> list[StoredEvent]:
    with deps.uow() as uow:
        return uow.events.listing(statuses, limit)


def show_event(deps: Dependencies, event_id: str) -> StoredEvent | None:
    with deps.uow() as uow:
        return uow.events.get(event_id)


def event_backlog(deps: Dependencies) -> Backlog:
    with deps.uow() as uow:
        return uow.events.backlog(deps.clock())
