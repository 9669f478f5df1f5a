"""The entitlement watch against the real billing-server: a cached answer is
dropped as soon as the server notices a change, whatever the cache's TTL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from billing_client import (
    BillingClient,
    CancellationTiming,
    PlanCache,
    PlanRequired,
    requires_plan,
)
from tests.e2e.client.conftest import subscribe
from tests.e2e.conftest import BillingServer, Emulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def watching(billing_server: BillingServer) -> Iterator[BillingClient]:
    with BillingClient(
        billing_server.target,
        service_name="client-e2e-watch",
        insecure=True,
        token=billing_server.token,
        check_timeout=5,
        cache=PlanCache(ttl=60),
        watch=True,
        watch_ttl=60,
    ) as client:
        assert client.watcher is not None
        assert client.watcher.wait_connected(10)
        yield client


def test_a_decorator_with_the_watch_enabled_denies_within_1s_of_a_cancel(
    watching: BillingClient, client: BillingClient, emulator: Emulator, account_id: str
) -> None:
    # ``client`` is another channel in this process: its own invalidation
    # after the cancel cannot reach ``watching``'s cache, only a notice can.
    @requires_plan("pro", client=watching)
    def export(account_id: str) -> str:
        return "exported"

    subscribe(client, emulator, account_id, "pro")
    assert export(account_id) == "exported"
    # The subscription's own notice may still be on its way and drop that
    # first answer: call until one is served from the cache.
    deadline = time.monotonic() + 5
    while watching.stats.hits == 0:
        assert time.monotonic() < deadline, "the allowed answer was never cached"
        assert export(account_id) == "exported"
        time.sleep(0.05)
    notices = watching.stats.notices

    client.cancel_subscription(account_id, timing=CancellationTiming.IMMEDIATELY)
    canceled_at = time.monotonic()
    while True:
        try:
            export(account_id)
        except PlanRequired:
            break
        assert time.monotonic() - canceled_at < 1.0, "still allowed 1 s after the cancel"
        time.sleep(0.01)

    assert time.monotonic() - canceled_at < 1.0
    assert watching.stats.notices > notices  # the cancel was notified
