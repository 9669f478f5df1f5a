"""Idempotent execution: one effect per key, whatever the retries and races."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from billing_server import deadlines
from billing_server.domain.audit import AuditEntry
from billing_server.domain.checkouts import CheckoutSession
from billing_server.domain.errors import Aborted, FailedPrecondition, InvalidArgument, Unavailable
from billing_server.service_layer import checkout
from billing_server.service_layer.claims import Claim
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.idempotency import (
    Completion,
    release,
    release_held_claims,
    run_idempotent,
)
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork
from tests.fakes import FakeStripeGateway

pytestmark = pytest.mark.integration


class Counter:
    def __init__(self, answer: bytes = b"answer") -> None:
        self.calls = 0
        self.answer = answer
        self.lock = threading.Lock()

    def __call__(self, done: object = None) -> bytes:
        with self.lock:
            self.calls += 1
        return self.answer


def same(response: bytes) -> bytes:
    return response


@pytest.fixture
def key() -> str:
    return f"key-{uuid.uuid4().hex}"


def test_the_same_key_and_request_replays_the_first_response(deps: Dependencies, key: str) -> None:
    counter = Counter()
    first = run_idempotent(deps, method="M", key=key, fingerprint="f", compute=counter, encode=same)
    counter.answer = b"other"
    second = run_idempotent(
        deps, method="M", key=key, fingerprint="f", compute=counter, encode=same
    )
    assert first == second == b"answer"
    assert counter.calls == 1


def test_the_same_key_with_another_request_is_refused(deps: Dependencies, key: str) -> None:
    run_idempotent(deps, method="M", key=key, fingerprint="f1", compute=Counter(), encode=same)
    with pytest.raises(InvalidArgument) as error:
        run_idempotent(deps, method="M", key=key, fingerprint="f2", compute=Counter(), encode=same)
    assert error.value.reason == "IDEMPOTENCY_KEY_REUSED"


def test_keys_are_scoped_by_method(deps: Dependencies, key: str) -> None:
    counter = Counter()
    run_idempotent(deps, method="A", key=key, fingerprint="f", compute=counter, encode=same)
    run_idempotent(deps, method="B", key=key, fingerprint="f", compute=counter, encode=same)
    assert counter.calls == 2


def test_without_a_key_every_call_runs(deps: Dependencies) -> None:
    counter = Counter()
    run_idempotent(deps, method="M", key=None, fingerprint="f", compute=counter, encode=same)
    run_idempotent(deps, method="M", key=None, fingerprint="f", compute=counter, encode=same)
    assert counter.calls == 2


def test_concurrent_calls_with_one_key_run_once(deps: Dependencies, key: str) -> None:
    counter = Counter()
    start = threading.Barrier(20)

    def call() -> bytes:
        start.wait()
        return run_idempotent(
            deps, method="M", key=key, fingerprint="f", compute=counter, encode=same
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: call(), range(20)))
    assert answers == [b"answer"] * 20
    assert counter.calls == 1


def test_a_refusal_is_remembered_and_replayed(deps: Dependencies, key: str) -> None:
    calls = 0

    def refuse(done: object) -> bytes:
        nonlocal calls
        calls += 1
        raise FailedPrecondition("no", reason="WHY_NOT")

    for _ in range(2):
        with pytest.raises(FailedPrecondition) as error:
            run_idempotent(deps, method="M", key=key, fingerprint="f", compute=refuse, encode=same)
        assert error.value.reason == "WHY_NOT"
    assert calls == 1


def test_a_replayed_refusal_keeps_its_metadata_and_field(deps: Dependencies, key: str) -> None:
    def refuse(done: object) -> bytes:
        raise InvalidArgument(
            "bad plan", reason="PLAN_UNKNOWN", metadata={"plan": "gold"}, field="plan"
        )

    seen = []
    for _ in range(2):
        with pytest.raises(InvalidArgument) as error:
            run_idempotent(deps, method="M", key=key, fingerprint="f", compute=refuse, encode=same)
        seen.append((error.value.reason, error.value.metadata, error.value.field))
    assert seen == [("PLAN_UNKNOWN", {"plan": "gold"}, "plan")] * 2


def test_a_transient_failure_is_forgotten_so_a_retry_runs(deps: Dependencies, key: str) -> None:
    def outage(done: object) -> bytes:
        raise Unavailable("stripe down")

    with pytest.raises(Unavailable):
        run_idempotent(deps, method="M", key=key, fingerprint="f", compute=outage, encode=same)
    counter = Counter()
    assert (
        run_idempotent(deps, method="M", key=key, fingerprint="f", compute=counter, encode=same)
        == b"answer"
    )
    assert counter.calls == 1


def abandon_claim(deps: Dependencies, key: str, lasting: timedelta) -> None:
    """What a server killed mid-call leaves behind: a pending claim."""
    now = deps.clock()
    with deps.uow(write=True) as uow:
        uow.idempotency.claim("M", key, "f", now, now + lasting)
        uow.commit()


def test_a_claim_whose_deadline_passed_is_taken_over_by_a_retry(
    deps: Dependencies, key: str
) -> None:
    abandon_claim(deps, key, timedelta(seconds=0.3))
    counter = Counter()
    with deadlines.deadline_in(5):
        answer = run_idempotent(
            deps, method="M", key=key, fingerprint="f", compute=counter, encode=same
        )
    assert answer == b"answer"
    assert counter.calls == 1


def test_a_claim_still_within_its_deadline_answers_in_progress_in_time(
    deps: Dependencies, key: str
) -> None:
    abandon_claim(deps, key, timedelta(seconds=60))
    counter = Counter()
    started = time.monotonic()
    with deadlines.deadline_in(0.5), pytest.raises(Aborted) as in_progress:
        run_idempotent(deps, method="M", key=key, fingerprint="f", compute=counter, encode=same)
    # ABORTED, which clients retry, before the caller's own deadline.
    assert in_progress.value.reason == "IDEMPOTENCY_KEY_IN_PROGRESS"
    assert time.monotonic() - started < 0.5
    assert counter.calls == 0


def test_a_late_release_leaves_the_claim_of_the_request_that_took_over(
    deps: Dependencies, key: str
) -> None:
    abandon_claim(deps, key, timedelta(seconds=-1))  # lapsed already
    with deps.uow(write=True) as uow:
        [old] = [uow.idempotency.get("M", key)]
        uow.commit()
    assert old is not None
    gate = threading.Event()
    proceed = threading.Event()

    def slow(done: object) -> bytes:
        gate.set()
        proceed.wait(5)
        return b"mine"

    with ThreadPoolExecutor(max_workers=1) as pool:
        retry = pool.submit(
            run_idempotent, deps, method="M", key=key, fingerprint="f", compute=slow, encode=same
        )
        assert gate.wait(5)
        # The first request wakes up and gives its claim back: too late.
        release(deps, Claim("M", key, old.updated_at))
        proceed.set()
        assert retry.result(5) == b"mine"
    with deps.uow() as uow:
        record = uow.idempotency.get("M", key)
    assert record is not None
    assert record.state == "succeeded"


def test_claims_held_at_shutdown_are_released(deps: Dependencies, key: str) -> None:
    gate = threading.Event()
    proceed = threading.Event()

    def stuck(done: object) -> bytes:
        gate.set()
        proceed.wait(5)
        return b"late"

    with ThreadPoolExecutor(max_workers=1) as pool:
        call = pool.submit(
            run_idempotent, deps, method="M", key=key, fingerprint="f", compute=stuck, encode=same
        )
        assert gate.wait(5)
        assert release_held_claims(deps) == 1
        with deps.uow() as uow:
            assert uow.idempotency.get("M", key) is None  # a retry elsewhere runs at once
        proceed.set()
        call.result(5)


class AuditThenOutage:
    """A unit-of-work factory whose database goes away right after the
    transaction that records an audit entry commits."""

    def __init__(self, deps: Dependencies) -> None:
        self.inner = deps.uow
        self.down = False

    def __call__(self, *, write: bool = False) -> Any:
        if self.down:
            raise Unavailable("the database is unreachable")
        return _Watched(self.inner(write=write), self)


class _Watched:
    def __init__(self, uow: AbstractUnitOfWork, outage: AuditThenOutage) -> None:
        self.uow = uow
        self.outage = outage

    def __enter__(self) -> AbstractUnitOfWork:
        uow = self.uow.__enter__()
        record = uow.audit.record

        def record_then_fail(entry: AuditEntry) -> None:
            record(entry)
            uow.after_commit(lambda: setattr(self.outage, "down", True))

        uow.audit.record = record_then_fail  # type: ignore[method-assign]
        return uow

    def __exit__(self, *exc: Any) -> None:
        self.uow.__exit__(*exc)


def test_an_audited_success_is_an_answer_a_retry_gets_back(
    deps: Dependencies, fake_stripe: FakeStripeGateway, key: str
) -> None:
    outage = AuditThenOutage(deps)
    failing = dataclasses.replace(deps, uow=outage)
    account = f"acct_{uuid.uuid4().hex[:8]}"

    def create(done: Completion[CheckoutSession] | None) -> CheckoutSession:
        return checkout.create_checkout(
            failing,
            account_id=account,
            plan_name="pro",
            customer_email=None,
            idempotency_key=key,
            actor="tests",
            done=done,
        )

    answer = run_idempotent(
        failing,
        method="CreateCheckout:tests",
        key=key,
        fingerprint="f",
        compute=create,
        encode=lambda session: session.id.encode(),
    )
    assert outage.down  # nothing was written after the audit entry
    with deps.uow() as uow:
        record = uow.idempotency.get("CreateCheckout:tests", key)
    assert record is not None
    assert record.state == "succeeded"
    assert record.response == answer


class Outage:
    """A unit-of-work factory whose database can be taken away."""

    def __init__(self, deps: Dependencies) -> None:
        self.inner = deps.uow
        self.down = False

    def __call__(self, *, write: bool = False) -> Any:
        if self.down:
            raise Unavailable("the database is unreachable", reason="DATABASE_UNAVAILABLE")
        return self.inner(write=write)


def test_a_claim_that_cannot_be_released_stays_held_and_the_first_error_is_heard(
    deps: Dependencies, key: str
) -> None:
    outage = Outage(deps)
    failing = dataclasses.replace(deps, uow=outage)

    def stripe_then_database_down(done: object) -> bytes:
        outage.down = True
        raise Unavailable("Stripe failed", reason="STRIPE_UNAVAILABLE")

    with pytest.raises(Unavailable) as error:
        run_idempotent(
            failing,
            method="M",
            key=key,
            fingerprint="f",
            compute=stripe_then_database_down,
            encode=same,
        )
    assert error.value.reason == "STRIPE_UNAVAILABLE"
    # The shutdown releases it once the database answers again.
    outage.down = False
    assert release_held_claims(failing) == 1
    with deps.uow() as uow:
        assert uow.idempotency.get("M", key) is None
