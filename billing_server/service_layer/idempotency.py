"""Idempotent execution of mutating calls.

The same key with the same request returns the first response again without
touching Stripe a second time; the same key with another request is an error;
concurrent calls with one key wait for the first one's answer.

A claim lasts as long as its request's deadline: once that has passed,
nobody waits for the request anymore and a retry may take the claim over
(the Stripe idempotency keys, derived from ours, still prevent a second
charge or session). A shutdown releases the claims its calls still hold.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from billing_server import deadlines
from billing_server.adapters.idempotency_store import IdempotencyRecord, StoredError
from billing_server.domain.errors import (
    REPLAYABLE,
    Aborted,
    BillingError,
    InvalidArgument,
    error_for_code,
)
from billing_server.service_layer.claims import Claim
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)

# The claim of a request without a deadline (command-line tools), and of a
# record written before claims had an end.
UNBOUNDED_CLAIM = timedelta(seconds=60)
# How long a call waits for another one holding its key before it answers
# ABORTED (IDEMPOTENCY_KEY_IN_PROGRESS), which clients retry with backoff.
IN_PROGRESS_WAIT_S = 2.0
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


class Completion(Generic[T]):
    """Stores a call's answer in the transaction that records its outcome,
    so that an audited success is always one its caller can get back."""

    def __init__(self, claim: Claim, encode: Callable[[T], bytes], clock: Callable[[], datetime]):
        self._claim = claim
        self._encode = encode
        self._clock = clock
        self.response: bytes | None = None

    def finish(self, uow: AbstractUnitOfWork, result: T) -> None:
        """Within the use case's last writing transaction, before its commit."""
        response = self._encode(result)
        uow.idempotency.finish(
            self._claim.method, self._claim.key, self._clock(), response=response
        )
        uow.after_commit(functools.partial(self._stored, response))

    def _stored(self, response: bytes) -> None:
        self.response = response


# Writes the audit entry of a failed call into the transaction given.
FailureRecorder = Callable[[AbstractUnitOfWork, BillingError], None]


def run_idempotent(
    deps: Dependencies,
    *,
    method: str,
    key: str | None,
    fingerprint: str,
    compute: Callable[[Completion[T] | None], T],
    encode: Callable[[T], bytes],
    wait_s: float = IN_PROGRESS_WAIT_S,
    record_failure: FailureRecorder | None = None,
) -> bytes:
    """Runs `compute` once per (method, key) and returns its serialised response.

    `compute` gets a Completion to finish in its last writing transaction
    (None without a key); if it does not, the answer is stored after it.
    A failure is told to `record_failure` in the transaction that stores the
    refusal or releases the key, or in one of its own before the key is held."""
    failed = _FailureWriter(deps, record_failure)
    if key is None:
        with failed.alone():
            return encode(compute(None))
    with failed.alone():
        record, claim = _claim_or_wait(deps, method, key, fingerprint, wait_s)
        if record is not None:
            deps.telemetry.idempotent_replay(method.split(":", 1)[0])
            return _replay(record)
    assert claim is not None
    deps.claims.add(claim)
    done = Completion(claim, encode, deps.clock)
    try:
        result = compute(done)
        response = done.response
        if response is None:
            response = encode(result)
            _finish(deps, claim, response=response)
    except REPLAYABLE as exc:
        _finish(deps, claim, error=_error_record(exc), also=failed.writer(exc))
        deps.claims.discard(claim)
        raise
    except BillingError as exc:
        # Transient failure: forget the key so that a retry runs again.
        _release_or_keep(deps, claim, also=failed.writer(exc))
        raise
    except BaseException:
        _release_or_keep(deps, claim)
        raise
    deps.claims.discard(claim)
    return response


class _FailureWriter:
    """Where a failed call's audit entry goes: beside the write that the
    failure causes, or alone when it causes none."""

    def __init__(self, deps: Dependencies, record: FailureRecorder | None) -> None:
        self._deps = deps
        self._record = record

    def writer(self, exc: BillingError) -> Callable[[AbstractUnitOfWork], None] | None:
        record = self._record
        if record is None:
            return None
        return lambda uow: record(uow, exc)

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        try:
            yield
        except BillingError as exc:
            if self._record is not None:
                record_alone(self._deps, self._record, exc)
            raise


def record_alone(deps: Dependencies, record: FailureRecorder, exc: BillingError) -> None:
    """Audits a failure that wrote nothing else, in a transaction of its own."""
    # Failing to audit must not hide the caller's error.
    try:
        with deps.uow(write=True) as uow:
            record(uow, exc)
            uow.commit()
    except BillingError:
        log.exception("could not audit a failed call")


def _release_or_keep(
    deps: Dependencies,
    claim: Claim,
    also: Callable[[AbstractUnitOfWork], None] | None = None,
) -> None:
    """Releases the claim (and writes `also` beside it); failing that (the
    database is gone too), keeps it held, for the shutdown to release or its
    deadline to end, and lets the caller hear the first error."""
    try:
        release(deps, claim, also)
    except BillingError:
        log.warning("could not release an idempotency claim of %s", claim.method)
        return
    deps.claims.discard(claim)


def release(
    deps: Dependencies, claim: Claim, also: Callable[[AbstractUnitOfWork], None] | None = None
) -> None:
    with deps.uow(write=True) as uow:
        uow.idempotency.release(claim.method, claim.key, claim.claimed_at)
        if also is not None:
            also(uow)
        uow.commit()


def release_held_claims(deps: Dependencies) -> int:
    """Releases the claims of calls that never finished (at shutdown)."""
    held = deps.claims.take_all()
    for claim in held:
        try:
            release(deps, claim)
        except BillingError:
            # The database is gone too: the claim lapses with its deadline.
            log.warning("could not release an idempotency claim of %s", claim.method)
    return len(held)


def _claim_or_wait(
    deps: Dependencies, method: str, key: str, fingerprint: str, wait_s: float
) -> tuple[IdempotencyRecord | None, Claim | None]:
    """(None, the claim) when this call owns the key; otherwise the finished record."""
    left = deadlines.remaining()
    if left is not None:
        # ABORTED (and its audit) while the caller still listens.
        wait_s = min(wait_s, max(0.0, left - deadlines.ANSWER_MARGIN_S))
    give_up_at = time.monotonic() + wait_s
    while True:
        now = deps.clock()
        until = now + _claim_length()
        with deps.uow(write=True) as uow:
            record, mine = uow.idempotency.claim(method, key, fingerprint, now, until)
            if not mine and record.state == "pending" and record.fingerprint == fingerprint:
                mine = uow.idempotency.take_over(method, key, now, until, now - UNBOUNDED_CLAIM)
            uow.commit()
        if record.fingerprint != fingerprint:
            raise InvalidArgument(
                "idempotency_key was already used with a different request",
                reason="IDEMPOTENCY_KEY_REUSED",
                field="idempotency_key",
            )
        if mine:
            return None, Claim(method, key, now)
        if record.state != "pending":
            return record, None
        if time.monotonic() >= give_up_at:
            raise Aborted(
                "a request with this idempotency_key is still in progress; retry later",
                reason="IDEMPOTENCY_KEY_IN_PROGRESS",
            )
        time.sleep(POLL_INTERVAL_S)


def _claim_length() -> timedelta:
    left = deadlines.remaining()
    return UNBOUNDED_CLAIM if left is None else timedelta(seconds=max(0.0, left))


def _replay(record: IdempotencyRecord) -> bytes:
    if record.state == "failed" and record.error is not None:
        error = record.error
        cls = error_for_code(str(error["code"]))
        metadata = error.get("metadata")
        field = error.get("field")
        raise cls(
            str(error["message"]),
            reason=str(error["reason"]),
            metadata=(
                {str(k): str(v) for k, v in metadata.items()}
                if isinstance(metadata, dict)
                else None
            ),
            field=field if isinstance(field, str) else None,
        )
    assert record.response is not None
    return record.response


def _error_record(exc: BillingError) -> StoredError:
    record: StoredError = {"code": exc.grpc_code, "message": exc.message, "reason": exc.reason}
    if exc.metadata:
        record["metadata"] = dict(exc.metadata)
    if exc.field is not None:
        record["field"] = exc.field
    return record


def _finish(
    deps: Dependencies,
    claim: Claim,
    *,
    response: bytes | None = None,
    error: StoredError | None = None,
    also: Callable[[AbstractUnitOfWork], None] | None = None,
) -> None:
    with deps.uow(write=True) as uow:
        uow.idempotency.finish(
            claim.method, claim.key, deps.clock(), response=response, error=error
        )
        if also is not None:
            also(uow)
        uow.commit()
