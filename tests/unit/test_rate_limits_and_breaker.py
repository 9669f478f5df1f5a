"""Token buckets and the circuit breaker, on an injected clock."""

from __future__ import annotations

import pytest

from billing_server.circuit_breaker import BreakerState, CircuitBreaker
from billing_server.domain.rate_limits import Limit, Pacer, RateLimiter, parse_limits

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> BreakerState:
    # A function, so that type checkers do not narrow the property.
    return breaker.state


def test_a_bucket_admits_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(Limit(per_second=2, burst=3), {}, clock)
    assert [limiter.admit("svc", "M") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.admit("svc", "M")
    assert wait == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.admit("svc", "M") == 0.0


def test_buckets_are_per_caller_and_method() -> None:
    limiter = RateLimiter(Limit(1, 1), {"CheckPlan": Limit(100, 100)}, Clock())
    assert limiter.admit("a", "ChangePlan") == 0.0
    assert limiter.admit("a", "ChangePlan") > 0
    assert limiter.admit("b", "ChangePlan") == 0.0
    assert all(limiter.admit("a", "CheckPlan") == 0.0 for _ in range(100))


def test_limits_are_parsed_from_configuration() -> None:
    default, per_method = parse_limits("default=10/20, CheckPlan=500/1000")
    assert default == Limit(10, 20)
    assert per_method == {"CheckPlan": Limit(500, 1000)}
    with pytest.raises(ValueError, match="positive"):
        parse_limits("default=0/1")


def test_the_breaker_opens_fails_fast_half_opens_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=clock)
    changes: list[BreakerState] = []
    breaker.on_change(changes.append)

    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()

    clock.now += 30
    assert breaker.allow()  # the one probe
    assert not breaker.allow()  # nobody else meanwhile
    assert state(breaker) is BreakerState.HALF_OPEN
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_a_failed_probe_opens_again_and_successes_reset_the_count() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED  # not two in a row
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()


def test_the_pacer_spaces_callers_out_in_turn() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(20, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        pacer.wait()
    assert slept == pytest.approx([0.05, 0.10, 0.15])
    now[0] = 10.0  # long idle: no debt, no wait
    pacer.wait()
    assert len(slept) == 3
