"""Errors carry the server's reason; failure policies while the server is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing_client import (
    FAIL_OPEN,
    AnswerSource,
    BillingClient,
    CancellationTiming,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PlanCache,
    Proration,
    Unavailable,
    is_transient,
    requires_plan,
    serve_stale,
)
from tests.e2e.client.conftest import subscribe
from tests.e2e.conftest import BillingServer, Emulator, server_env, start_server
from tests.e2e.services import free_port

pytestmark = pytest.mark.e2e

# What failing closed raises: with the server gone, gRPC's retries of
# UNAVAILABLE may use up the 0.5 s deadline first on a busy machine.
UNREACHABLE = (Unavailable, DeadlineExceeded)


def test_errors_carry_the_servers_code_reason_and_message(
    client: BillingClient, emulator: Emulator, account_id: str
) -> None:
    with pytest.raises(NotFound) as unknown_plan:
        client.check_plan(account_id, plan="gold")
    with pytest.raises(InvalidArgument) as no_account:
        client.check_plan("", plan="pro")
    with pytest.raises(NotFound) as no_subscription:
        client.get_subscription(account_id)

    assert unknown_plan.value.reason == "PLAN_NOT_FOUND"
    assert unknown_plan.value.message == "unknown plan 'gold'"
    assert unknown_plan.value.metadata == {"plan": "gold"}
    assert not is_transient(unknown_plan.value)
    assert no_account.value.field_violations
    assert no_subscription.value.reason

    subscribe(client, emulator, account_id, "pro")
    with pytest.raises(FailedPrecondition) as exists:
        client.create_checkout(account_id, "enterprise")
    assert exists.value.reason == "SUBSCRIPTION_EXISTS"


def test_the_sync_client_drives_the_lifecycle(
    client: BillingClient, emulator: Emulator, account_id: str
) -> None:
    confirmed = subscribe(client, emulator, account_id, "pro")
    changed = client.change_plan(account_id, "enterprise", proration=Proration.ALWAYS_INVOICE)
    canceled = client.cancel_subscription(account_id, timing=CancellationTiming.IMMEDIATELY)

    assert confirmed.stripe_subscription_id.startswith("sub_")
    assert changed.plan == "enterprise"
    assert canceled.status.value == "canceled"
    assert not client.check_access(account_id, plan="pro").allowed
    assert client.get_subscription(account_id) == canceled


def test_a_given_idempotency_key_replays_the_first_checkout(
    client: BillingClient, account_id: str
) -> None:
    first = client.create_checkout(account_id, "pro", idempotency_key=f"order-{account_id}")
    again = client.create_checkout(account_id, "pro", idempotency_key=f"order-{account_id}")
    other = client.create_checkout(account_id, "pro")

    assert again.session_id == first.session_id
    assert other.session_id != first.session_id


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stoppable_server(
    database_url: str, emulator: Emulator, e2e_logs: Path
) -> Iterator[BillingServer]:
    server = start_server(server_env(database_url, emulator, free_port()), e2e_logs)
    yield server
    server.process.stop()


def test_failure_policies_when_the_server_is_down(
    stoppable_server: BillingServer, account_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cache = PlanCache(ttl=5, clock=clock)
    client = BillingClient(
        stoppable_server.target,
        service_name="client-e2e",
        insecure=True,
        token=stoppable_server.token,
        cache=cache,
    )
    known, unknown = account_id, f"{account_id}_never_seen"

    @requires_plan("free", client=client)
    def fail_closed(account_id: str) -> str:
        return "ran"

    @requires_plan("free", client=client, on_unavailable=FAIL_OPEN)
    def fail_open(account_id: str) -> str:
        return "ran"

    @requires_plan("free", client=client, on_unavailable=serve_stale(60))
    def stale_ok(account_id: str) -> str:
        return "ran"

    with client:
        assert stale_ok(known) == "ran"  # the server answers and the cache keeps it
        stoppable_server.process.stop()
        clock.now += 30  # the answer is no longer fresh: every call asks the server

        started = time.monotonic()
        with pytest.raises(UNREACHABLE):
            fail_closed(known)
        assert time.monotonic() - started < client.check_timeout + 2  # bounded, no hang
        assert fail_open(unknown) == "ran"
        assert stale_ok(known) == "ran"
        stale = client.check_access(known, plan="free", on_unavailable=serve_stale(60))
        with pytest.raises(UNREACHABLE):
            stale_ok(unknown)  # nothing to serve: fails closed
        clock.now += 60  # now 85 s stale
        with pytest.raises(UNREACHABLE):
            stale_ok(known)

    assert stale.source is AnswerSource.STALE
    assert stale.allowed
    assert client.stats.fallbacks == {"stale": 2, "fail_open": 1, "fail_closed": 3}
    assert f"serving the last answer for account {known}" in caplog.text
    assert f"failing open for account {unknown}" in caplog.text
