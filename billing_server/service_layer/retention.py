"""Deleting what the service no longer needs to keep."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

# Small batches, each in its own transaction, so that cleanup never holds
# locks on the inbox or the idempotency table for long.
BATCH_SIZE = 500


@dataclass(frozen=True)
class CleanupReport:
    events_deleted: int
    idempotency_records_deleted: int


def clean_up(
    deps: Dependencies,
    *,
    processed_events_older_than: timedelta,
    idempotency_records_older_than: timedelta,
    batch_size: int = BATCH_SIZE,
) -> CleanupReport:
    now = deps.clock()
    event_cutoff = now - processed_events_older_than
    record_cutoff = now - idempotency_records_older_than
    events = _in_batches(
        deps, lambda uow: uow.events.delete_finished_before(event_cutoff, batch_size), batch_size
    )
    records = _in_batches(
        deps,
        lambda uow: uow.idempotency.delete_created_before(record_cutoff, batch_size),
        batch_size,
    )
    return CleanupReport(events, records)


def _in_batches(
    deps: Dependencies, delete_batch: Callable[[AbstractUnitOfWork], int], batch_size: int
) -> int:
    total = 0
    while True:
        with deps.uow(write=True) as uow:
            deleted = delete_batch(uow)
            uow.commit()
        total += deleted
        if deleted < batch_size:
            return total
