"""The entitlement watch keeps the plan cache fresh, against a test server
that implements only WatchEntitlements."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import grpc
import pytest

from billing_client import AsyncBillingClient, BillingClient, PlanCache, PlanCheck
from billing_client._cache import Key
from billing_client._types import SubscriptionStatus
from tests.unit.client.watch_server import (
    WatchServicer,
    change,
    heartbeat,
    reset,
    serve,
    wait_until,
)

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0
FAST = {"initial_backoff": 0.01, "max_backoff": 0.05}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def key(account: str) -> Key:
    return (account, "plan", "pro")


def answer(version: int = 1) -> PlanCheck:
    return PlanCheck(True, None, "pro", SubscriptionStatus.ACTIVE, state_version=version)


def load(cache: PlanCache, account: str, version: int = 1) -> None:
    """Stores an answer as a CheckPlan call would (the server has no CheckPlan)."""
    cache.get_or_load(key(account), lambda: answer(version))


@pytest.fixture
def servicer() -> Iterator[WatchServicer]:
    # The other methods stay abstract: calling them answers UNIMPLEMENTED.
    servicer = WatchServicer()  # type: ignore[abstract]
    server = serve(servicer)
    yield servicer
    server.stop(0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(servicer: WatchServicer, clock: Clock) -> Iterator[BillingClient]:
    with BillingClient(
        servicer.target,
        service_name="watch-tests",
        token="tok",
        insecure=True,
        cache=PlanCache(ttl=5, clock=clock),
    ) as client:
        yield client


def test_a_change_drops_the_accounts_older_answers(
    client: BillingClient, servicer: WatchServicer
) -> None:
    watch = client.watch_entitlements(**FAST)
    stream = servicer.next_stream()
    assert watch.wait_connected(5)
    load(client.cache, "acct_1", version=3)
    load(client.cache, "acct_2", version=3)

    stream.send(change("acct_1", 4, "t1"))
    wait_until(lambda: client.stats.notices == 1)

    assert client.cache.get(key("acct_1")) is None
    assert client.cache.get(key("acct_2")) is not None
    # A notice no newer than the cached answer leaves it alone.
    stream.send(change("acct_2", 3, "t2"))
    wait_until(lambda: client.stats.notices == 2)
    assert client.cache.get(key("acct_2")) is not None


def test_a_reset_drops_every_answer(client: BillingClient, servicer: WatchServicer) -> None:
    client.watch_entitlements(**FAST)
    stream = servicer.next_stream()
    load(client.cache, "acct_1")
    load(client.cache, "acct_2")

    stream.send(reset("t1"))
    wait_until(lambda: client.stats.resets == 1)

    assert len(client.cache) == 0


def test_a_broken_stream_is_resumed_with_the_last_token(
    client: BillingClient, servicer: WatchServicer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "billing_client")
    client.watch_entitlements(**FAST)
    first = servicer.next_stream()
    first.send(change("acct_1", 2, "after-change-1"))
    wait_until(lambda: client.stats.notices == 1)

    first.break_off()
    second = servicer.next_stream()

    assert (first.resume_token, second.resume_token) == ("", "after-change-1")
    assert second.authorization == "Bearer tok"
    # What the server replays on the new stream is applied as usual.
    load(client.cache, "acct_1", version=2)
    second.send(change("acct_1", 3, "after-change-2"))
    wait_until(lambda: client.stats.notices == 2)
    assert client.cache.get(key("acct_1")) is None
    assert client.stats.reconnects == 1
    assert "reconnecting" in caplog.text
    assert "UNAVAILABLE" in caplog.text


def test_answers_outlive_the_ttl_only_while_notices_can_arrive(
    client: BillingClient, servicer: WatchServicer, clock: Clock
) -> None:
    load(client.cache, "before")  # read before any stream: nothing would tell its change
    watch = client.watch_entitlements(watch_ttl=60, **FAST)
    stream = servicer.next_stream()
    assert watch.wait_connected(5)
    load(client.cache, "during")

    clock.now = T0 + 10
    assert client.cache.get(key("during")) is not None
    assert client.cache.get(key("before")) is None

    servicer.refuse = grpc.StatusCode.UNAVAILABLE
    stream.break_off()
    wait_until(lambda: client.stats.reconnects >= 1)
    assert not watch.connected
    assert client.cache.get(key("during")) is None  # back on the 5 s TTL

    # Reconnected, the old answer stays on the TTL (the replay may still be
    # on its way); answers read on the new connection are extended again.
    load(client.cache, "during")
    servicer.refuse = None
    resumed = servicer.next_stream()
    assert resumed.resume_token == "hello-1"
    assert watch.wait_connected(5)
    load(client.cache, "after")
    clock.now = T0 + 10 + 30
    assert client.cache.get(key("during")) is None
    assert client.cache.get(key("after")) is not None
    clock.now = T0 + 10 + 60
    assert client.cache.get(key("after")) is None  # never beyond the watch TTL


def test_a_silent_stream_is_given_up_and_reopened(
    client: BillingClient, servicer: WatchServicer
) -> None:
    client.watch_entitlements(heartbeat_timeout=0.2, **FAST)
    first = servicer.next_stream()

    second = servicer.next_stream()

    assert second.resume_token == "hello-1"
    wait_until(lambda: first.closed)
    assert client.stats.reconnects >= 1


def test_a_refused_watch_keeps_retrying_with_backoff(
    client: BillingClient, servicer: WatchServicer
) -> None:
    servicer.refuse = grpc.StatusCode.RESOURCE_EXHAUSTED
    watch = client.watch_entitlements(**FAST)
    wait_until(lambda: servicer.refused >= 3)
    assert not watch.connected

    servicer.refuse = None
    assert watch.wait_connected(5)
    assert client.stats.reconnects >= 3


def test_stopping_ends_the_stream_and_the_extension(
    client: BillingClient, servicer: WatchServicer, clock: Clock
) -> None:
    watch = client.watch_entitlements(**FAST)
    stream = servicer.next_stream()
    assert watch.wait_connected(5)
    load(client.cache, "acct_1")

    watch.stop()

    assert not watch.connected
    wait_until(lambda: stream.closed)
    clock.now = T0 + 10
    assert client.cache.get(key("acct_1")) is None
    assert servicer.count == 1


def test_watch_true_starts_the_watch_and_close_stops_it(servicer: WatchServicer) -> None:
    with BillingClient(
        servicer.target,
        service_name="watch-tests",
        insecure=True,
        watch=True,
    ) as client:
        stream = servicer.next_stream()
        assert client.watcher is not None
        assert client.watcher.wait_connected(5)
        with pytest.raises(RuntimeError):
            client.watch_entitlements()
    wait_until(lambda: stream.closed)


def test_the_async_client_watches_in_a_task(servicer: WatchServicer) -> None:
    async def main() -> tuple[int, int, int]:
        async with AsyncBillingClient(
            servicer.target,
            service_name="watch-tests",
            token="tok",
            insecure=True,
        ) as client:
            watch = client.watch_entitlements(**FAST)
            stream = await asyncio.to_thread(servicer.next_stream)
            assert await watch.wait_connected(5)
            load(client.cache, "acct_1")
            load(client.cache, "acct_2")
            stream.send(change("acct_1", 2, "t1"))
            stream.send(heartbeat("t2"))
            stream.break_off()
            resumed = await asyncio.to_thread(servicer.next_stream)
            assert resumed.resume_token == "t2"
            resumed.send(reset("t3"))
            deadline = time.monotonic() + 5
            while client.stats.resets == 0:
                assert time.monotonic() < deadline, "the reset was never applied"
                await asyncio.sleep(0.005)
            assert len(client.cache) == 0
            stats = client.stats
            return stats.notices, stats.resets, stats.reconnects

    assert asyncio.run(main()) == (1, 1, 1)
