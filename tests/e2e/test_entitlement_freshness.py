"""Fresh everywhere: replicas and watchers learn of a change at once."""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from billing.v1 import billing_pb2, billing_pb2_grpc
from tests.conftest import TEST_DATABASE_ENV
from tests.e2e.conftest import BillingServer, Emulator, server_env, start_server, token
from tests.e2e.services import BearerToken, free_port

pytestmark = pytest.mark.e2e


def stub_for(server: BillingServer) -> tuple[grpc.Channel, billing_pb2_grpc.BillingServiceStub]:
    channel = grpc.insecure_channel(server.target)
    return channel, billing_pb2_grpc.BillingServiceStub(
        grpc.intercept_channel(channel, BearerToken(token()))
    )


def subscribe(stub: billing_pb2_grpc.BillingServiceStub, emulator: Emulator, account: str) -> None:
    session = stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(account_id=account, plan="pro"), timeout=10
    )
    emulator.complete_checkout(session.session_id)
    stub.ConfirmCheckout(
        billing_pb2.ConfirmCheckoutRequest(session_id=session.session_id), timeout=10
    )


def cancel(stub: billing_pb2_grpc.BillingServiceStub, account: str) -> None:
    stub.CancelSubscription(
        billing_pb2.CancelSubscriptionRequest(
            account_id=account, timing=billing_pb2.CANCELLATION_TIMING_IMMEDIATELY
        ),
        timeout=10,
    )


def allowed(stub: billing_pb2_grpc.BillingServiceStub, account: str) -> bool:
    return stub.CheckPlan(
        billing_pb2.CheckPlanRequest(account_id=account, plan="pro"), timeout=5
    ).allowed


@pytest.fixture
def second_replica(billing_server: BillingServer, e2e_logs: Path) -> Iterator[BillingServer]:
    env = dict(billing_server.env)
    env["PAYMENTSVC_GRPC_ADDRESS"] = f"127.0.0.1:{free_port()}"
    env["PAYMENTSVC_METRICS_ADDRESS"] = f"127.0.0.1:{free_port()}"
    replica = start_server(env, e2e_logs)
    yield replica
    replica.process.stop()


@pytest.mark.skipif(
    not os.environ.get(TEST_DATABASE_ENV), reason="replicas share a PostgreSQL database"
)
def test_a_change_through_one_replica_is_seen_by_the_other_at_once(
    billing_server: BillingServer,
    second_replica: BillingServer,
    emulator: Emulator,
    account_id: str,
) -> None:
    channel_a, a = stub_for(billing_server)
    channel_b, b = stub_for(second_replica)
    with channel_a, channel_b:
        subscribe(a, emulator, account_id)
        assert allowed(b, account_id)  # now in b's view
        assert allowed(b, account_id)
        cancel(a, account_id)
        deadline = time.monotonic() + 1.0
        while allowed(b, account_id):
            assert time.monotonic() < deadline, "b still answers from its stale view"
            time.sleep(0.01)


def watch(
    server: BillingServer, accounts: list[str], resume_token: str = ""
) -> tuple[grpc.Channel, queue.Queue[billing_pb2.WatchEntitlementsResponse]]:
    channel, stub = stub_for(server)
    notices: queue.Queue[billing_pb2.WatchEntitlementsResponse] = queue.Queue()
    stream = stub.WatchEntitlements(
        billing_pb2.WatchEntitlementsRequest(account_ids=accounts, resume_token=resume_token)
    )

    def pump() -> None:
        try:
            for notice in stream:
                notices.put(notice)
        except grpc.RpcError:
            pass  # the channel closed

    threading.Thread(target=pump, daemon=True).start()
    return channel, notices


def next_of(
    notices: queue.Queue[billing_pb2.WatchEntitlementsResponse], kind: str, timeout_s: float = 5
) -> billing_pb2.WatchEntitlementsResponse:
    deadline = time.monotonic() + timeout_s
    while True:
        notice = notices.get(timeout=max(deadline - time.monotonic(), 0.01))
        if notice.WhichOneof("notice") == kind:
            return notice


def test_a_watcher_hears_changes_and_resumes_from_its_token(
    billing_server: BillingServer, emulator: Emulator, account_id: str
) -> None:
    channel, stub = stub_for(billing_server)
    with channel:
        watching, notices = watch(billing_server, [account_id])
        started = next_of(notices, "heartbeat")
        subscribe(stub, emulator, account_id)
        change = next_of(notices, "change")
        assert change.change.account_id == account_id
        assert change.change.state_version >= 1
        watching.close()

        cancel(stub, account_id)  # while nobody watches
        resumed, later = watch(billing_server, [account_id], change.resume_token)
        missed = next_of(later, "change")
        assert missed.change.state_version > change.change.state_version
        resumed.close()
        assert started.resume_token != change.resume_token


def test_a_watcher_too_far_behind_is_told_to_drop_its_cache(
    database_url: str, emulator: Emulator, e2e_logs: Path
) -> None:
    env = server_env(database_url, emulator, free_port())
    env["PAYMENTSVC_WATCH_WINDOW"] = "2"
    server = start_server(env, e2e_logs)
    try:
        channel, stub = stub_for(server)
        with channel:
            watching, notices = watch(server, [])
            token_then = next_of(notices, "heartbeat").resume_token
            watching.close()
            for _ in range(3):
                subscribe(stub, emulator, f"acct_behind_{uuid.uuid4().hex[:8]}")
            resumed, later = watch(server, [], token_then)
            assert next_of(later, "reset").WhichOneof("notice") == "reset"
            resumed.close()
    finally:
        server.process.stop()
