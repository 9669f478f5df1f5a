"""The CheckPlan cache: TTL, the answer's own bounds, LRU, invalidation, single flight."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from billing_client import DenialReason, PlanCache, PlanCheck, SubscriptionStatus, Unavailable
from tests.unit.client.watch_server import wait_until

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def answer(
    *, allowed: bool = True, valid_until: float | None = None, version: int = 1
) -> PlanCheck:
    return PlanCheck(
        allowed=allowed,
        denial_reason=None if allowed else DenialReason.PLAN_TOO_LOW,
        plan="pro",
        status=SubscriptionStatus.ACTIVE,
        valid_until=datetime.fromtimestamp(valid_until, UTC) if valid_until else None,
        state_version=version,
    )


def key(account: str = "acct_1", name: str = "pro") -> tuple[str, str, str]:
    return (account, "plan", name)


def test_answers_are_fresh_for_the_ttl() -> None:
    clock = Clock()
    cache = PlanCache(ttl=5, clock=clock)
    cache.put(key(), answer())

    clock.now = T0 + 4.9
    assert cache.get(key()) == answer()
    clock.now = T0 + 5.0
    assert cache.get(key()) is None
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_never_fresh_beyond_the_answers_valid_until() -> None:
    clock = Clock()
    cache = PlanCache(ttl=60, clock=clock)
    cache.put(key(), answer(valid_until=T0 + 2))

    clock.now = T0 + 1.9
    assert cache.get(key()) is not None
    clock.now = T0 + 2
    assert cache.get(key()) is None


def test_never_fresh_beyond_the_period_end() -> None:
    clock = Clock()
    cache = PlanCache(ttl=60, clock=clock)
    period_end = datetime.fromtimestamp(T0 + 3, UTC)
    cache.put(key(), PlanCheck(True, None, "pro", SubscriptionStatus.ACTIVE, period_end))

    clock.now = T0 + 3
    assert cache.get(key()) is None


def test_least_recently_used_entries_are_evicted() -> None:
    cache = PlanCache(max_entries=2, clock=Clock())
    cache.put(key("a"), answer())
    cache.put(key("b"), answer())
    assert cache.get(key("a")) is not None  # a is now the most recently used
    cache.put(key("c"), answer())

    assert cache.get(key("b")) is None
    assert cache.get(key("a")) is not None
    assert cache.get(key("c")) is not None
    assert len(cache) == 2
    assert cache.stats.evictions == 1


def test_invalidate_drops_every_answer_about_the_account() -> None:
    cache = PlanCache(clock=Clock())
    cache.put(key("a", "pro"), answer())
    cache.put(key("a", "enterprise"), answer())
    cache.put(key("b", "pro"), answer())

    assert cache.invalidate("a") == 2

    assert cache.get(key("a", "pro")) is None
    assert cache.get(key("a", "enterprise")) is None
    assert cache.get(key("b", "pro")) is not None


def test_a_change_notice_keeps_answers_already_at_its_version() -> None:
    cache = PlanCache(clock=Clock())
    cache.put(key("a", "pro"), answer(version=5))
    cache.put(key("a", "enterprise"), answer(version=4))

    assert cache.invalidate("a", below_version=5) == 1

    assert cache.get(key("a", "pro")) is not None
    assert cache.get(key("a", "enterprise")) is None
    assert cache.invalidate("a", below_version=6) == 1
    assert len(cache) == 0


def test_valid_until_notified_mode_keeps_answers_until_invalidated() -> None:
    clock = Clock()
    cache = PlanCache(ttl=None, clock=clock)
    cache.put(key(), answer())

    clock.now = T0 + 86_400
    assert cache.get(key()) is not None
    cache.invalidate("acct_1")
    assert cache.get(key()) is None


def test_stale_answers_are_served_only_within_the_allowance() -> None:
    clock = Clock()
    cache = PlanCache(ttl=5, clock=clock)
    cache.put(key(), answer())

    clock.now = T0 + 5 + 29
    stale = cache.get_stale(key(), max_stale=30)
    assert stale is not None
    assert stale[1] == pytest.approx(29)
    clock.now = T0 + 5 + 31
    assert cache.get_stale(key(), max_stale=30) is None


def test_stale_answers_never_outlive_their_valid_until() -> None:
    clock = Clock()
    cache = PlanCache(ttl=5, clock=clock)
    cache.put(key(), answer(valid_until=T0 + 10))

    clock.now = T0 + 10
    assert cache.get_stale(key(), max_stale=3600) is None


def test_a_hundred_threads_asking_at_once_make_one_call() -> None:
    cache = PlanCache()
    calls = 0
    release = threading.Event()

    def fetch() -> PlanCheck:
        nonlocal calls
        calls += 1
        release.wait(5)
        return answer()

    with ThreadPoolExecutor(max_workers=100) as pool:
        futures = [pool.submit(cache.get_or_load, key(), fetch) for _ in range(100)]
        wait_until(lambda: cache.stats.shared + cache.stats.rpcs == 100)
        release.set()
        results = [f.result(timeout=5) for f in futures]

    assert calls == 1
    assert results == [answer()] * 100
    assert (cache.stats.rpcs, cache.stats.shared) == (1, 99)


def test_waiting_threads_share_the_callers_error_and_nothing_is_stored() -> None:
    cache = PlanCache()
    release = threading.Event()

    def fetch() -> PlanCheck:
        release.wait(5)
        raise Unavailable("down")

    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(cache.get_or_load, key(), fetch) for _ in range(10)]
        wait_until(lambda: cache.stats.shared + cache.stats.rpcs == 10)
        release.set()
        errors = [f.exception(timeout=5) for f in futures]

    assert all(isinstance(e, Unavailable) for e in errors)
    assert cache.stats.rpcs == 1
    assert len(cache) == 0


def test_an_answer_in_flight_during_invalidation_is_not_stored() -> None:
    cache = PlanCache()

    def fetch() -> PlanCheck:
        cache.invalidate("acct_1")  # a change notification arrives mid-call
        return answer(version=1)

    assert cache.get_or_load(key(), fetch).state_version == 1
    assert cache.get(key()) is None


def test_a_hundred_tasks_asking_at_once_make_one_call() -> None:
    cache = PlanCache()
    calls = 0

    async def fetch() -> PlanCheck:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return answer()

    async def main() -> list[PlanCheck]:
        return await asyncio.gather(*(cache.get_or_load_async(key(), fetch) for _ in range(100)))

    results = asyncio.run(main())

    assert calls == 1
    assert results == [answer()] * 100
    assert cache.get(key()) == answer()


def test_a_cancelled_task_does_not_cancel_the_others_answer() -> None:
    cache = PlanCache()

    async def fetch() -> PlanCheck:
        await asyncio.sleep(0.05)
        return answer()

    async def main() -> PlanCheck:
        first = asyncio.create_task(cache.get_or_load_async(key(), fetch))
        second = asyncio.create_task(cache.get_or_load_async(key(), fetch))
        await asyncio.sleep(0.01)
        first.cancel()
        return await second

    assert asyncio.run(main()) == answer()
    assert cache.stats.rpcs == 1


def test_a_write_is_remembered_as_the_minimum_version_for_its_window() -> None:
    clock = Clock()
    cache = PlanCache(clock=clock, consistency_window=60)
    cache.put(key(), answer(version=3))
    cache.wrote("acct_1", 7)
    assert cache.get(key()) is None  # the old answer is gone
    assert cache.min_state_version("acct_1") == 7
    assert cache.min_state_version("acct_other") == 0
    cache.wrote("acct_1", 5)  # an older echo never lowers it
    assert cache.min_state_version("acct_1") == 7
    clock.now = T0 + 61
    assert cache.min_state_version("acct_1") == 0  # every replica has heard by now


def test_answers_read_together_are_not_stored_over_a_change_meanwhile() -> None:
    cache = PlanCache(clock=Clock())
    token = cache.fill_token("acct_1")
    cache.invalidate("acct_1")  # a change notice while GetEntitlements was in flight
    assert not cache.put_filled("acct_1", {key(): answer()}, token)
    assert cache.get(key()) is None

    fresh = cache.fill_token("acct_1")
    cache.invalidate("acct_other")  # another account's change does not matter
    assert cache.put_filled("acct_1", {key(): answer(), key(name="enterprise"): answer()}, fresh)
    assert cache.get(key(name="enterprise")) == answer()
