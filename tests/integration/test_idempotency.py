"""Idempotent execution: one effect per key, whatever the retries and races."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from billing_server.domain.errors import FailedPrecondition, InvalidArgument, Unavailable
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.idempotency import run_idempotent

pytestmark = pytest.mark.integration


class Counter:
    def __init__(self, answer: bytes = b"answer") -> None:
        self.calls = 0
        self.answer = answer
        self.lock = threading.Lock()

    def __call__(self) -> bytes:
        with self.lock:
            self.calls += 1
        return self.answer


@pytest.fixture
def key() -> str:
    return f"key-{uuid.uuid4().hex}"


def test_the_same_key_and_request_replays_the_first_response(deps: Dependencies, key: str) -> None:
    counter = Counter()
    first = run_idempotent(deps, method="M", key=key, fingerprint="f", compute=counter)
    counter.answer = b"other"
    second = run_idempotent(deps, method="M", key=key, fingerprint="f", compute=counter)
    assert first == second == b"answer"
    assert counter.calls == 1


def test_the_same_key_with_another_request_is_refused(deps: Dependencies, key: str) -> None:
    run_idempotent(deps, method="M", key=key, fingerprint="f1", compute=Counter())
    with pytest.raises(InvalidArgument) as error:
        run_idempotent(deps, method="M", key=key, fingerprint="f2", compute=Counter())
    assert error.value.reason == "IDEMPOTENCY_KEY_REUSED"


def test_keys_are_scoped_by_method(deps: Dependencies, key: str) -> None:
    counter = Counter()
    run_idempotent(deps, method="A", key=key, fingerprint="f", compute=counter)
    run_idempotent(deps, method="B", key=key, fingerprint="f", compute=counter)
    assert counter.calls == 2


def test_without_a_key_every_call_runs(deps: Dependencies) -> None:
    counter = Counter()
    run_idempotent(deps, method="M", key=None, fingerprint="f", compute=counter)
    run_idempotent(deps, method="M", key=None, fingerprint="f", compute=counter)
    assert counter.calls == 2


def test_concurrent_calls_with_one_key_run_once(deps: Dependencies, key: str) -> None:
    counter = Counter()
    start = threading.Barrier(20)

    def call() -> bytes:
        start.wait()
        return run_idempotent(deps, method="M", key=key, fingerprint="f", compute=counter)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: call(), range(20)))
    assert answers == [b"answer"] * 20
    assert counter.calls == 1


def test_a_refusal_is_remembered_and_replayed(deps: Dependencies, key: str) -> None:
    calls = 0

    def refuse() -> bytes:
        nonlocal calls
        calls += 1
        raise FailedPrecondition("no", reason="WHY_NOT")

    for _ in range(2):
        with pytest.raises(FailedPrecondition) as error:
            run_idempotent(deps, method="M", key=key, fingerprint="f", compute=refuse)
        assert error.value.reason == "WHY_NOT"
    assert calls == 1


def test_a_transient_failure_is_forgotten_so_a_retry_runs(deps: Dependencies, key: str) -> None:
    def outage() -> bytes:
        raise Unavailable("stripe down")

    with pytest.raises(Unavailable):
        run_idempotent(deps, method="M", key=key, fingerprint="f", compute=outage)
    counter = Counter()
    assert run_idempotent(deps, method="M", key=key, fingerprint="f", compute=counter) == b"answer"
    assert counter.calls == 1
