"""The idempotency records: one per (method, key), claimed while a request
runs and finished with the answer a retry replays."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_server.adapters.orm import IdempotencyRecordRow

IdempotencyState = Literal["pending", "succeeded", "failed"]

# A refusal as stored for its replay: code, message and reason as strings,
# with "metadata" (a mapping of strings) and "field" when the refusal had them.
StoredError = dict[str, object]


@dataclass(frozen=True)
class IdempotencyRecord:
    method: str
    key: str
    fingerprint: str
    state: IdempotencyState
    response: bytes | None
    error: StoredError | None
    updated_at: datetime


class AbstractIdempotencyStore(abc.ABC):
    @abc.abstractmethod
    def claim(
        self, method: str, key: str, fingerprint: str, now: datetime, until: datetime
    ) -> tuple[IdempotencyRecord, bool]:
        """Inserts a pending record claimed until `until`, or returns the
        existing one; True when inserted."""

    @abc.abstractmethod
    def get(self, method: str, key: str) -> IdempotencyRecord | None: ...

    @abc.abstractmethod
    def take_over(
        self, method: str, key: str, now: datetime, until: datetime, unbounded_before: datetime
    ) -> bool:
        """Re-claims a pending record whose claim lapsed before `now` (or, for
        a claim without an end, that was taken before `unbounded_before`)."""

    @abc.abstractmethod
    def finish(
        self,
        method: str,
        key: str,
        now: datetime,
        *,
        response: bytes | None = None,
        error: StoredError | None = None,
    ) -> None: ...

    @abc.abstractmethod
    def release(self, method: str, key: str, claimed_at: datetime) -> None:
        """Forgets a pending record, unless another request took it over
        since this one claimed it at `claimed_at`."""

    @abc.abstractmethod
    def delete_created_before(self, cutoff: datetime, limit: int) -> int: ...


class SqlAlchemyIdempotencyStore(AbstractIdempotencyStore):
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(
        self, method: str, key: str, fingerprint: str, now: datetime, until: datetime
    ) -> tuple[IdempotencyRecord, bool]:
        existing = self.get(method, key)
        if existing is not None:
            return existing, False
        try:
            with self.session.begin_nested():
                self.session.add(
                    IdempotencyRecordRow(
                        method=method,
                        key=key,
                        fingerprint=fingerprint,
                        state="pending",
                        created_at=now,
                        updated_at=now,
                        claimed_until=until,
                    )
                )
        except IntegrityError:
            raced = self.get(method, key)
            assert raced is not None
            return raced, False
        return IdempotencyRecord(method, key, fingerprint, "pending", None, None, now), True

    def get(self, method: str, key: str) -> IdempotencyRecord | None:
        row = self._row(method, key)
        if row is None:
            return None
        return IdempotencyRecord(
            row.method,
            row.key,
            row.fingerprint,
            _state(row.state),
            row.response,
            json.loads(row.error) if row.error else None,
            row.updated_at,
        )

    def take_over(
        self, method: str, key: str, now: datetime, until: datetime, unbounded_before: datetime
    ) -> bool:
        row = IdempotencyRecordRow
        lapsed = or_(
            row.claimed_until < now,
            and_(row.claimed_until.is_(None), row.updated_at < unbounded_before),
        )
        result = self.session.execute(
            update(row)
            .where(row.method == method, row.key == key, row.state == "pending", lapsed)
            .values(updated_at=now, claimed_until=until)
        )
        return bool(getattr(result, "rowcount", 0))

    def finish(
        self,
        method: str,
        key: str,
        now: datetime,
        *,
        response: bytes | None = None,
        error: StoredError | None = None,
    ) -> None:
        self.session.execute(
            update(IdempotencyRecordRow)
            .where(IdempotencyRecordRow.method == method, IdempotencyRecordRow.key == key)
            .values(
                state="failed" if error is not None else "succeeded",
                response=response,
                error=json.dumps(error) if error is not None else None,
                updated_at=now,
            )
        )

    def release(self, method: str, key: str, claimed_at: datetime) -> None:
        self.session.execute(
            delete(IdempotencyRecordRow).where(
                IdempotencyRecordRow.method == method,
                IdempotencyRecordRow.key == key,
                IdempotencyRecordRow.state == "pending",
                IdempotencyRecordRow.updated_at == claimed_at,
            )
        )

    def delete_created_before(self, cutoff: datetime, limit: int) -> int:
        batch = (
            select(IdempotencyRecordRow.id)
            .where(IdempotencyRecordRow.created_at < cutoff)
            .limit(limit)
        )
        result = self.session.execute(
            delete(IdempotencyRecordRow).where(IdempotencyRecordRow.id.in_(batch))
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def _row(self, method: str, key: str) -> IdempotencyRecordRow | None:
        return self.session.scalar(
            select(IdempotencyRecordRow).where(
                IdempotencyRecordRow.method == method, IdempotencyRecordRow.key == key
            )
        )


def _state(value: str) -> IdempotencyState:
    if value == "pending":
        return "pending"
    if value == "succeeded":
        return "succeeded"
    if value == "failed":
        return "failed"
    raise ValueError(f"unknown idempotency state {value!r}")
