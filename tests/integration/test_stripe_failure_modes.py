"""Stripe's own failure modes through the adapter, against the emulator:
a key still in use, Stripe-Should-Retry, and retries bounded by the deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from billing_server import deadlines
from billing_server.adapters.stripe_calls import StripeCalls
from billing_server.adapters.stripe_gateway import StripeGateway, make_client
from billing_server.circuit_breaker import BreakerState, CircuitBreaker
from billing_server.domain.errors import REPLAYABLE, InternalError, Unavailable
from stripe_emulator.testing import RunningEmulator, run_emulator

pytestmark = pytest.mark.integration

KEY = "sk_test_failure_modes"
CUSTOMERS = "POST /v1/customers"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with run_emulator() as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(emulator: RunningEmulator) -> Iterator[None]:
    yield
    emulator.control.clear_faults()


def gateway(emulator: RunningEmulator, retries: int) -> tuple[StripeGateway, CircuitBreaker]:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=60)
    client = make_client(KEY, emulator.url, timeout_s=10, max_network_retries=retries)
    return StripeGateway(client, StripeCalls(breaker)), breaker


def created(emulator: RunningEmulator) -> int:
    return int(emulator.control.request_counts()["by_route"].get(CUSTOMERS, 0))


def test_a_key_in_use_is_retryable_and_never_a_refusal(emulator: RunningEmulator) -> None:
    adapter, breaker = gateway(emulator, retries=0)
    key = f"paymentsvc-{uuid.uuid4().hex}"
    account = f"acct_{uuid.uuid4().hex[:8]}"
    emulator.control.inject_fault("delay", routes=[CUSTOMERS], hang_s=1.0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(adapter.create_customer, account, None, key)
        emulator_wait(lambda: created(emulator) >= 1)
        with pytest.raises(Unavailable) as in_use:
            adapter.create_customer(account, None, key)
        customer = first.result(timeout=10)

    assert in_use.value.reason == "STRIPE_IDEMPOTENCY_KEY_IN_USE"
    assert not isinstance(in_use.value, REPLAYABLE)  # run_idempotent never stores it
    assert breaker.state is BreakerState.CLOSED  # not Stripe failing
    # The retry gets the first request's customer, replayed.
    assert adapter.create_customer(account, None, key) == customer


def test_the_stripe_library_retries_a_key_in_use_into_the_replay(
    emulator: RunningEmulator,
) -> None:
    adapter, _ = gateway(emulator, retries=3)
    key = f"paymentsvc-{uuid.uuid4().hex}"
    account = f"acct_{uuid.uuid4().hex[:8]}"
    emulator.control.inject_fault("delay", routes=[CUSTOMERS], hang_s=0.5)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(adapter.create_customer, account, None, key)
        emulator_wait(lambda: created(emulator) >= 1)
        second = adapter.create_customer(account, None, key)
        assert first.result(timeout=10) == second


def test_stripe_should_retry_false_is_honoured(emulator: RunningEmulator) -> None:
    adapter, _ = gateway(emulator, retries=3)
    emulator.control.inject_fault("error", count=-1, routes=[CUSTOMERS], should_retry=False)
    before = created(emulator)
    with pytest.raises(InternalError) as failed:
        adapter.create_customer("acct_x", None, f"paymentsvc-{uuid.uuid4().hex}")
    assert failed.value.reason == "STRIPE_FAILED"
    assert created(emulator) == before + 1  # the library did not retry either


def test_stripe_should_retry_true_is_retried(emulator: RunningEmulator) -> None:
    adapter, _ = gateway(emulator, retries=3)
    emulator.control.inject_fault("error", count=1, routes=[CUSTOMERS], should_retry=True)
    before = created(emulator)
    adapter.create_customer("acct_x", None, f"paymentsvc-{uuid.uuid4().hex}")
    assert created(emulator) == before + 2


def test_no_stripe_retry_starts_past_the_callers_deadline(emulator: RunningEmulator) -> None:
    # Left alone, five retries would sleep 0.5 + 1 + 2 + 4 + 5 seconds.
    adapter, _ = gateway(emulator, retries=5)
    emulator.control.inject_fault("error", count=-1, routes=[CUSTOMERS])
    deadline_s = 1.5
    started = time.monotonic()
    with deadlines.deadline_in(deadline_s), pytest.raises(Unavailable):
        adapter.create_customer("acct_x", None, f"paymentsvc-{uuid.uuid4().hex}")
    returned = time.monotonic()
    attempts = created(emulator)
    assert returned - started < deadline_s
    # Nothing is left running that could send another attempt later.
    assert created(emulator) == attempts


def test_an_attempt_waits_no_longer_than_the_deadline(emulator: RunningEmulator) -> None:
    adapter, _ = gateway(emulator, retries=0)
    emulator.control.inject_fault("hang", count=-1, routes=[CUSTOMERS], hang_s=30)
    started = time.monotonic()
    with deadlines.deadline_in(1.0), pytest.raises(Unavailable):
        adapter.create_customer("acct_x", None, f"paymentsvc-{uuid.uuid4().hex}")
    assert time.monotonic() - started < 1.0 + 0.5  # not the client's 10 s timeout


def emulator_wait(condition: Callable[[], bool]) -> None:
    give_up_at = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < give_up_at, "the emulator never saw the request"
        time.sleep(0.01)
