"""Recovering events: replaying those never delivered, retrying those that failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from billing_server.domain.events import HANDLED_TYPES, parse_event
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.webhooks import IngestOutcome, apply_event, ingest_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayReport:
    listed: int
    already_stored: int
    applied: int
    failed: int


@dataclass(frozen=True)
class RetryReport:
    attempted: int
    applied: int
    deferred: int
    failed: int


def replay_missed_events(deps: Dependencies, since: datetime) -> ReplayReport:
    """Lists Stripe's events since `since` and ingests the ones never stored,
    oldest first, through the same path as webhooks. Safe to run any time."""
    events = [parse_event(p) for p in deps.stripe.list_events(since, sorted(HANDLED_TYPES))]
    with deps.uow() as uow:
        known = uow.events.known(e.id for e in events)
    missing = sorted((e for e in events if e.id not in known), key=lambda e: e.created)
    applied = failed = 0
    for event in missing:
        try:
            ingest_event(deps, event.payload.encode())
            applied += 1
        except Exception:
            log.exception("replaying event %s failed", event.id)
            failed += 1
    return ReplayReport(len(events), len(known), applied, failed)


def retry_events(deps: Dependencies, limit: int = 1000) -> RetryReport:
    """Applies stored events that failed, were deferred or were never applied."""
    with deps.uow() as uow:
        pending = uow.events.retryable(limit)
    applied = deferred = failed = 0
    for event_id in pending:
        try:
            outcome = apply_event(deps, event_id)
        except Exception:
            log.exception("retrying event %s failed", event_id)
            failed += 1
            continue
        if outcome is IngestOutcome.DEFERRED:
            deferred += 1
        else:
            applied += 1
    return RetryReport(len(pending), applied, deferred, failed)
