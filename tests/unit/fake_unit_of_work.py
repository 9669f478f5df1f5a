"""A unit of work held in memory, for use cases tested without a database.

It holds the idempotency records and the audit log; a commit keeps what was
written, a rollback (or leaving without a commit) forgets it, as in the
database.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime

from billing_server.adapters.audit_log import AbstractAuditLog
from billing_server.adapters.catalog_file import load_catalog
from billing_server.adapters.idempotency_store import (
    AbstractIdempotencyStore,
    IdempotencyRecord,
    StoredError,
)
from billing_server.config import DEFAULT_PLANS_FILE
from billing_server.domain.audit import AuditEntry
from billing_server.service_layer.dependencies import CheckoutUrls, Dependencies
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork
from tests.fakes import FakeStripeGateway


@dataclasses.dataclass
class _Claimed:
    record: IdempotencyRecord
    created_at: datetime
    claimed_until: datetime | None


class FakeIdempotencyStore(AbstractIdempotencyStore):
    def __init__(self, records: dict[tuple[str, str], _Claimed]) -> None:
        self.records = records

    def claim(
        self, method: str, key: str, fingerprint: str, now: datetime, until: datetime
    ) -> tuple[IdempotencyRecord, bool]:
        existing = self.records.get((method, key))
        if existing is not None:
            return existing.record, False
        record = IdempotencyRecord(method, key, fingerprint, "pending", None, None, now)
        self.records[(method, key)] = _Claimed(record, now, until)
        return record, True

    def get(self, method: str, key: str) -> IdempotencyRecord | None:
        held = self.records.get((method, key))
        return held.record if held else None

    def take_over(
        self, method: str, key: str, now: datetime, until: datetime, unbounded_before: datetime
    ) -> bool:
        held = self.records.get((method, key))
        if held is None or held.record.state != "pending":
            return False
        lapsed = (
            held.claimed_until < now
            if held.claimed_until is not None
            else held.record.updated_at < unbounded_before
        )
        if lapsed:
            held.record = dataclasses.replace(held.record, updated_at=now)
            held.claimed_until = until
        return lapsed

    def finish(
        self,
        method: str,
        key: str,
        now: datetime,
        *,
        response: bytes | None = None,
        error: StoredError | None = None,
    ) -> None:
        held = self.records[(method, key)]
        held.record = dataclasses.replace(
            held.record,
            state="failed" if error is not None else "succeeded",
            response=response,
            error=copy.deepcopy(error),
            updated_at=now,
        )

    def release(self, method: str, key: str, claimed_at: datetime) -> None:
        held = self.records.get((method, key))
        if held and held.record.state == "pending" and held.record.updated_at == claimed_at:
            del self.records[(method, key)]

    def delete_created_before(self, cutoff: datetime, limit: int) -> int:
        old = [k for k, held in self.records.items() if held.created_at < cutoff][:limit]
        for k in old:
            del self.records[k]
        return len(old)


class FakeAuditLog(AbstractAuditLog):
    def __init__(self, entries: list[AuditEntry]) -> None:
        self.entries = entries

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


class FakeDatabase:
    """What the fake units of work commit to."""

    def __init__(self) -> None:
        self.idempotency: dict[tuple[str, str], _Claimed] = {}
        self.audit: list[AuditEntry] = []
        self.commits = 0

    def uow(self, write: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeUnitOfWork(AbstractUnitOfWork):
    def __init__(self, database: FakeDatabase) -> None:
        self.database = database

    def __enter__(self) -> FakeUnitOfWork:
        # Works on copies; a commit puts them back.
        self.idempotency = FakeIdempotencyStore(copy.deepcopy(self.database.idempotency))
        self.audit = FakeAuditLog(list(self.database.audit))
        super().__enter__()
        return self

    def _commit(self) -> None:
        assert isinstance(self.idempotency, FakeIdempotencyStore)
        assert isinstance(self.audit, FakeAuditLog)
        self.database.idempotency = copy.deepcopy(self.idempotency.records)
        self.database.audit = list(self.audit.entries)
        self.database.commits += 1

    def _rollback(self) -> None:
        pass


class _NoIntake:
    def store(self, event: object, traceparent: str | None) -> bool:
        raise AssertionError("these tests take no events")


def fake_dependencies(database: FakeDatabase, stripe: FakeStripeGateway) -> Dependencies:
    """Dependencies over the in-memory database and the fake Stripe gateway."""
    return Dependencies(
        uow=database.uow,
        stripe=stripe,
        catalog=load_catalog(DEFAULT_PLANS_FILE),
        urls=CheckoutUrls("https://s.example", "https://c.example", "https://r.example"),
        intake=_NoIntake(),
    )
