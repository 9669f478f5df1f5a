"""A unit of work held in memory, for use cases tested without a database.

It holds accounts, subscriptions, the webhook inbox, the idempotency records
and the audit log; a commit keeps what was written, a rollback (or leaving
without a commit) forgets it, as in the database. The repositories are in
fake_accounts.py, fake_subscriptions.py and fake_inbox.py.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import datetime

from billing_server.adapters.audit_log import AbstractAuditLog
from billing_server.adapters.catalog_file import load_catalog
from billing_server.adapters.idempotency_store import (
    AbstractIdempotencyStore,
    IdempotencyRecord,
    StoredError,
)
from billing_server.adapters.subscription_repository import RecordedSubscription
from billing_server.config import DEFAULT_PLANS_FILE
from billing_server.domain.audit import AuditEntry
from billing_server.domain.events import InboundEvent
from billing_server.domain.rate_limits import Pacer
from billing_server.domain.stored_events import StoredEvent
from billing_server.service_layer.dependencies import (
    CheckoutUrls,
    Dependencies,
    WebhookSecrets,
    utc_now,
)
from billing_server.service_layer.ingest import store_events
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork
from tests.fakes import FakeStripeGateway
from tests.unit.fake_accounts import AccountRecord, FakeAccountRepository
from tests.unit.fake_inbox import FakeEventInbox
from tests.unit.fake_subscriptions import FakeSubscriptionRepository

WEBHOOK_SECRET = "whsec_unit_tests_only"


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
    """What the fake units of work commit to: one table each."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountRecord] = {}
        self.subscriptions: dict[str, RecordedSubscription] = {}
        self.events: dict[str, StoredEvent] = {}
        self.idempotency: dict[tuple[str, str], _Claimed] = {}
        self.audit: list[AuditEntry] = []
        self.commits = 0

    def uow(self, write: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeUnitOfWork(AbstractUnitOfWork):
    def __init__(self, database: FakeDatabase) -> None:
        self.database = database

    def __enter__(self) -> FakeUnitOfWork:
        self._begin()
        super().__enter__()
        return self

    def _begin(self) -> None:
        # Works on copies of what is committed; a commit puts them back. Rows
        # are frozen values, replaced when written, so shallow copies will do
        # (the idempotency records are changed in place: copied deep).
        db = self.database
        self._began_after = db.commits
        self._read = self._tables()
        accounts = dict(db.accounts)
        self.subscriptions: FakeSubscriptionRepository = FakeSubscriptionRepository(
            dict(db.subscriptions), accounts
        )
        self.accounts: FakeAccountRepository = FakeAccountRepository(accounts, self.subscriptions)
        self.events: FakeEventInbox = FakeEventInbox(dict(db.events))
        self.idempotency: FakeIdempotencyStore = FakeIdempotencyStore(copy.deepcopy(db.idempotency))
        self.audit: FakeAuditLog = FakeAuditLog(list(db.audit))

    def _commit(self) -> None:
        db = self.database
        if db.commits != self._began_after:
            # Another unit of work committed while this one was open. Putting
            # this one's copies back would undo that commit: on SQLite the
            # second writer waits for the first instead, or fails.
            assert self._written() == self._read, (
                "a unit of work wrote after another committed while it was open"
            )
        else:
            db.accounts = dict(self.accounts.rows)
            db.subscriptions = dict(self.subscriptions.rows)
            db.events = dict(self.events.rows)
            db.idempotency = copy.deepcopy(self.idempotency.records)
            db.audit = list(self.audit.entries)
            db.commits += 1
        self._began_after = db.commits
        self._read = self._tables()
        # As SqlAlchemyUnitOfWork: what this transaction changed is told once.
        self.accounts.changed = {}
        self.events.made_due = False

    def _tables(self) -> tuple[object, ...]:
        db = self.database
        return (db.accounts, db.subscriptions, db.events, db.idempotency, db.audit)

    def _written(self) -> tuple[object, ...]:
        return (
            self.accounts.rows,
            self.subscriptions.rows,
            self.events.rows,
            self.idempotency.records,
            self.audit.entries,
        )

    def _rollback(self) -> None:
        self._begin()


class FakeIntake:
    """Stores each delivery in a transaction of its own (the server's group
    commit shares one between concurrent deliveries)."""

    def __init__(self, database: FakeDatabase, clock: Callable[[], datetime]) -> None:
        self._database = database
        self._clock = clock

    def store(self, event: InboundEvent, traceparent: str | None) -> bool:
        [stored] = store_events(self._database.uow, [(event, traceparent)], self._clock())
        return stored


def fake_dependencies(
    database: FakeDatabase,
    stripe: FakeStripeGateway,
    clock: Callable[[], datetime] = utc_now,
) -> Dependencies:
    """Dependencies over the in-memory database and the fake Stripe gateway.
    Deliveries are signed with WEBHOOK_SECRET; questions to Stripe wait for
    no pace."""
    return Dependencies(
        uow=database.uow,
        stripe=stripe,
        catalog=load_catalog(DEFAULT_PLANS_FILE),
        urls=CheckoutUrls("https://s.example", "https://c.example", "https://r.example"),
        intake=FakeIntake(database, clock),
        clock=clock,
        webhooks=WebhookSecrets((WEBHOOK_SECRET,)),
        stripe_pacer=Pacer(float("inf")),
    )
