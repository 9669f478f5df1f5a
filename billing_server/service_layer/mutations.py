"""Every mutating call, one way: once per idempotency key of its caller, and
audited when it fails.

A successful change writes its own audit entry in the transaction that makes
it (with its idempotency record), so "ok" in the audit always means that the
caller can get its answer; a refusal or failure is audited here, after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from billing_server.domain.errors import BillingError
from billing_server.service_layer import validation
from billing_server.service_layer.audit import record_outcome
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.idempotency import Completion, run_idempotent

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
    try:
        return run_idempotent(
            deps,
            # Keys are the caller's own: two services never share one.
            method=f"{call.action}:{call.actor}",
            key=validation.idempotency_key(call.idempotency_key),
            fingerprint=call.fingerprint,
            compute=compute,
            encode=encode,
        )
    except BillingError as exc:
        _audit_failure(deps, call, exc)
        raise


def _audit_failure(deps: Dependencies, call: Mutation, exc: BillingError) -> None:
    # Only well-formed identifiers go into the log; a refused request may
    # carry anything. Failing to audit must not hide the caller's error.
    try:
        record_outcome(
            deps,
            actor=call.actor,
            action=call.action,
            account_id=_valid_or_none(validation.account_id, call.account_id),
            outcome=exc.grpc_code,
            idempotency_key=_valid_or_none(validation.idempotency_key, call.idempotency_key),
            detail={"reason": exc.reason},
        )
    except BillingError:
        log.exception("could not audit a failed %s call", call.action)


def _valid_or_none(check: Callable[[str], str | None], value: str) -> str | None:
    if not value:
        return None
    try:
        return check(value)
    except BillingError:
        return None
