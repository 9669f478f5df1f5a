"""The audit log of mutations and refusals, written in the same transaction as what it records."""

from __future__ import annotations

import abc
import json

from sqlalchemy.orm import Session

from billing_server.adapters.orm import AuditLogRow
from billing_server.domain.audit import AuditEntry


class AbstractAuditLog(abc.ABC):
    @abc.abstractmethod
    def record(self, entry: AuditEntry) -> None: ...


class SqlAlchemyAuditLog(AbstractAuditLog):
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, entry: AuditEntry) -> None:
        self.session.add(
            AuditLogRow(
                occurred_at=entry.occurred_at,
                actor=entry.actor,
                action=entry.action,
                account_id=entry.account_id,
                outcome=entry.outcome,
                idempotency_key=entry.idempotency_key,
                detail=json.dumps(entry.detail, sort_keys=True) if entry.detail else None,
            )
        )


def audit_entry(row: AuditLogRow) -> AuditEntry:
    return AuditEntry(
        occurred_at=row.occurred_at,
        actor=row.actor,
        action=row.action,
        account_id=row.account_id,
        outcome=row.outcome,
        idempotency_key=row.idempotency_key,
        detail=json.loads(row.detail) if row.detail else {},
    )
