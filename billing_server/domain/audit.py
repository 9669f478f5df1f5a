"""Audit entries: who changed what, when, with which outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AuditEntry:
    occurred_at: datetime
    actor: str
    action: str
    account_id: str | None
    # "ok", or the gRPC status code name of the error.
    outcome: str
    idempotency_key: str | None = None
    # Identifiers only: never emails, tokens or card data.
    detail: dict[str, str] = field(default_factory=dict)
