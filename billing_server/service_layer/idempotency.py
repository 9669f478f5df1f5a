"""Idempotent execution of mutating calls.

The same key with the same request returns the first response again without
touching Stripe a second time; the same key with another request is an error;
concurrent calls with one key wait for the first one's answer.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from billing_server.adapters.repositories import IdempotencyRecord
from billing_server.domain.errors import (
    REPLAYABLE,
    Aborted,
    BillingError,
    InvalidArgument,
    error_for_code,
)
from billing_server.service_layer.dependencies import Dependencies

# A pending record older than this belongs to a request that died before it
# finished; a retry may take it over (Stripe's own idempotency keys, derived
# from ours, still prevent a second charge or session).
ABANDONED_AFTER = timedelta(seconds=60)
POLL_INTERVAL_S = 0.02


def stripe_key(caller: str, action: str, account_id: str, idempotency_key: str | None) -> str:
    """The Idempotency-Key of a Stripe request made for a caller's request.

    Derived from the caller's key, so that a retry of one never makes a
    second object in Stripe (a fresh one when the caller gave none), and
    scoped like ours: by calling service, method and account. A digest of
    the four as a JSON array: no separator inside a part can make two
    requests share a key, and it is 75 characters whatever the inputs
    (Stripe allows 255).
    """
    parts = [caller, action, account_id, idempotency_key or str(uuid.uuid4())]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return f"paymentsvc_{digest}"


def run_idempotent(
    deps: Dependencies,
    *,
    method: str,
    key: str | None,
    fingerprint: str,
    compute: Callable[[], bytes],
    wait_s: float = 10.0,
) -> bytes:
    """Runs `compute` once per (method, key) and returns its serialised response."""
    if key is None:
        return compute()
    record = _claim_or_wait(deps, method, key, fingerprint, wait_s)
    if record is not None:
        deps.telemetry.idempotent_replay(method.split(":", 1)[0])
        return _replay(record)
    try:
        response = compute()
    except REPLAYABLE as exc:
        _finish(deps, method, key, error=_error_record(exc))
        raise
    except BaseException:
        # Transient failure: forget the key so that a retry runs again.
        with deps.uow(write=True) as uow:
            uow.idempotency.release(method, key)
            uow.commit()
        raise
    _finish(deps, method, key, response=response)
    return response


def _claim_or_wait(
    deps: Dependencies, method: str, key: str, fingerprint: str, wait_s: float
) -> IdempotencyRecord | None:
    """None when this call owns the key; otherwise the finished record."""
    give_up_at = time.monotonic() + wait_s
    while True:
        now = deps.clock()
        with deps.uow(write=True) as uow:
            record, mine = uow.idempotency.claim(method, key, fingerprint, now)
            if not mine and record.state == "pending" and record.fingerprint == fingerprint:
                mine = uow.idempotency.take_over(method, key, now - ABANDONED_AFTER, now)
            uow.commit()
        if record.fingerprint != fingerprint:
            raise InvalidArgument(
                "idempotency_key was already used with a different request",
                reason="IDEMPOTENCY_KEY_REUSED",
                field="idempotency_key",
            )
        if mine:
            return None
        if record.state != "pending":
            return record
        if time.monotonic() >= give_up_at:
            raise Aborted(
                "a request with this idempotency_key is still in progress; retry later",
                reason="IDEMPOTENCY_KEY_IN_PROGRESS",
            )
        time.sleep(POLL_INTERVAL_S)


def _replay(record: IdempotencyRecord) -> bytes:
    if record.state == "failed" and record.error is not None:
        error = record.error
        cls = error_for_code(error["code"])
        raise cls(error["message"], reason=error["reason"])
    assert record.response is not None
    return record.response


def _error_record(exc: BillingError) -> dict[str, str]:
    return {"code": exc.grpc_code, "message": exc.message, "reason": exc.reason}


def _finish(
    deps: Dependencies,
    method: str,
    key: str,
    *,
    response: bytes | None = None,
    error: dict[str, str] | None = None,
) -> None:
    with deps.uow(write=True) as uow:
        uow.idempotency.finish(method, key, deps.clock(), response=response, error=error)
        uow.commit()
