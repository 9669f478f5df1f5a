"""Audit records of mutating calls: each entry is made here, one way.

A change that succeeds records `succeeded(...)` in the transaction that makes
it; a refusal or failure records `failed(...)` in the transaction that stores
the refusal or releases its idempotency key (service_layer/mutations.py); a
call that writes nothing else records its outcome with `record_outcome`.
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


def failed(
    deps: Dependencies,
    *,
    actor: str,
    action: str,
    account_id: str | None,
    code: str,
    reason: str,
    idempotency_key: str | None = None,
) -> AuditEntry:
    """The entry of a call refused or failed with a gRPC `code` and `reason`."""
    return _entry(deps, actor, action, account_id, code, idempotency_key, {"reason": reason})


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

    Changes and failures record theirs inside the transaction that writes
    them; this is for calls that write nothing else.
    """
    with deps.uow(write=True) as uow:
        uow.audit.record(_entry(deps, actor, action, account_id, outcome, idempotency_key, detail))
        uow.commit()
