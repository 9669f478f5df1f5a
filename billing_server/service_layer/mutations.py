"""Every mutating call, one way: once per idempotency key of its caller, and
audited however it ends.

A successful change writes its own audit entry in the transaction that makes
it (with its idempotency record), so "ok" in the audit always means that the
caller can get its answer. A refusal is audited in the transaction that
stores it against the key, a transient failure in the one that releases the
key: a call that fails writes once after its claim, not twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from billing_server.domain.errors import BillingError
from billing_server.service_layer import audit, validation
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.idempotency import Completion, record_alone, run_idempotent
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mutation:
    """One mutating call as it arrived: what it asks, who asks, and its key."""

    action: str
    actor: str
    # As sent, not yet validated: the use case refuses what is malformed.
    account_id: str
    idempotency_key: str
    # A digest of the request without its key: a key reused for another
    # request is refused, not answered with the first one's response.
    fingerprint: str


def run_mutation(
    deps: Dependencies,
    call: Mutation,
    compute: Callable[[Completion[T] | None], T],
    encode: Callable[[T], bytes],
) -> bytes:
    """Runs `compute` once per (caller, action, key) and returns the encoded
    answer, the first one again on a replay; a failure is audited, then raised."""

    def record_failure(uow: AbstractUnitOfWork, exc: BillingError) -> None:
        # Only well-formed identifiers go into the log; a refused request may
        # carry anything.
        uow.audit.record(
            audit.failed(
                deps,
                actor=call.actor,
                action=call.action,
                account_id=_valid_or_none(validation.account_id, call.account_id),
                code=exc.grpc_code,
                reason=exc.reason,
                idempotency_key=_valid_or_none(validation.idempotency_key, call.idempotency_key),
            )
        )

    try:
        key = validation.idempotency_key(call.idempotency_key)
    except BillingError as exc:
        record_alone(deps, record_failure, exc)
        raise
    return run_idempotent(
        deps,
        # Keys are the caller's own: two services never share one.
        method=f"{call.action}:{call.actor}",
        key=key,
        fingerprint=call.fingerprint,
        compute=compute,
        encode=encode,
        record_failure=record_failure,
    )


def _valid_or_none(check: Callable[[str], str | None], value: str) -> str | None:
    if not value:
        return None
    try:
        return check(value)
    except BillingError:
        return None
