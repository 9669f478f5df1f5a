"""Audit records of mutating calls: each entry is made here, one way.

A change that succeeds records `succeeded(...)` in the transaction that makes
it; a refusal or failure is recorded afterwards by `record_outcome`.
"""

from __future__ import annotations

from billing_server.domain.audit import AuditEntry
from billing_server.service_layer.dependencies import Dependencies


def succeeded(
    deps: Dependencies,
    *,
    actor: str,
    action: str,
    account_id: str,
    idempotency_key: str | None = None,
    detail: dict[str, str] | None = None,
) -> AuditEntry:
    """The entry of a change that succeeded (identifiers only in `detail`)."""
    return _entry(deps, actor, action, account_id, "ok", idempotency_key, detail)


def _entry(
    deps: Dependencies,
    actor: str,
    action: str,
    account_id: str | None,
    outcome: str,
    idempotency_key: str | None,
    detail: dict[str, str] | None,
) -> AuditEntry:
    return AuditEntry(
        occurred_at=deps.clock(),
        actor=actor,
        action=action,
        account_id=account_id,
        outcome=outcome,
        idempotency_key=idempotency_key,
        detail=detail or {},
    )


def record_outcome(
    deps: Dependencies,
    *,
    actor: str,
    action: str,
    account_id: str | None,
    outcome: str,
    idempotency_key: str | None = None,
    detail: dict[str, str] | None = None,
) -> None:
    """Records an outcome in a transaction of its own.

    Successful changes record theirs inside their own transaction instead, so
    that a change and its audit entry commit together; this is for failures
    and for calls that change nothing in the database.
    """
    with deps.uow(write=True) as uow:
        uow.audit.record(_entry(deps, actor, action, account_id, outcome, idempotency_key, detail))
        uow.commit()
