"""PostgreSQL goes away under load and comes back (PostgreSQL runs only)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import select

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import AuditLogRow
from paymentsvc_testing.tcp_proxy import TcpProxy
from tests.conftest import TEST_DATABASE_ENV
from tests.e2e.conftest import BillingServer, Emulator, server_behind_proxy
from tests.e2e.services import BearerToken, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get(TEST_DATABASE_ENV), reason="needs PostgreSQL (a server to take away)"
    ),
]


@pytest.fixture
def proxied(
    database_url: str, emulator: Emulator, e2e_logs: Path
) -> Iterator[tuple[BillingServer, TcpProxy]]:
    with server_behind_proxy(
        database_url,
        emulator,
        e2e_logs,
        {"PAYMENTSVC_HEALTH_PROBE_INTERVAL": str(PROBE_INTERVAL_S)},
    ) as behind:
        yield behind


def serving(channel: grpc.Channel, service: str = "billing.v1.BillingService") -> bool:
    health: Any = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def test_calls_fail_unavailable_and_recover(
    proxied: tuple[BillingServer, TcpProxy], database_url: str
) -> None:
    server, proxy = proxied
    account = f"acct_outage_{uuid.uuid4().hex[:8]}"
    codes: Counter[str] = Counter()
    answered: set[str] = set()  # accounts whose checkout answered OK
    unanswered: dict[str, str] = {}  # account -> the idempotency key to retry with
    lock = threading.Lock()
    stop = threading.Event()

    def checkout(stub: Any, buyer: str, key: str) -> None:
        stub.CreateCheckout(
            billing_pb2.CreateCheckoutRequest(account_id=buyer, plan="pro", idempotency_key=key),
            timeout=5,
        )

    def load() -> None:
        with grpc.insecure_channel(server.target) as raw:
            stub = billing_pb2_grpc.BillingServiceStub(
                grpc.intercept_channel(raw, BearerToken(server.token))
            )
            while not stop.is_set():
                try:
                    stub.CheckPlan(
                        billing_pb2.CheckPlanRequest(account_id=account, plan="free"), timeout=5
                    )
                    codes["OK"] += 1
                except grpc.RpcError as error:
                    codes[error.code().name] += 1
                buyer, key = f"{account}_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
                try:
                    checkout(stub, buyer, key)
                    codes["OK"] += 1
                    with lock:
                        answered.add(buyer)
                except grpc.RpcError as error:
                    codes[error.code().name] += 1
                    with lock:
                        unanswered[buyer] = key

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    with grpc.insecure_channel(server.target) as channel:
        wait_until(lambda: codes["OK"] >= 5, 30, "checkouts to succeed before the cut")
        proxy.cut()
        wait_until(lambda: not serving(channel), 10, "health to report NOT_SERVING")
        assert serving(channel, "")  # liveness: no reason to restart the process
        wait_until(lambda: codes["UNAVAILABLE"] >= 4, 30, "checkouts to fail UNAVAILABLE")
        down = Counter(codes)
        proxy.restore()
        wait_until(lambda: serving(channel), 15, "health to report SERVING again")
        ok_before = codes["OK"]
        wait_until(lambda: codes["OK"] >= ok_before + 5, 30, "checkouts to succeed again")
    stop.set()
    for worker in workers:
        worker.join(10)

    server.process.running()  # still alive: it did not crash
    assert down["UNAVAILABLE"] > 0
    assert set(codes) <= {"OK", "UNAVAILABLE"}, codes  # never INTERNAL or UNKNOWN
    assert codes["OK"] > ok_before  # it recovered

    # Each caller that heard UNAVAILABLE retries with its key: it gets its
    # answer (the first one, when the outage swallowed it), or the checkout
    # runs now. A claim the outage kept lapses with its call's deadline.
    with grpc.insecure_channel(server.target) as raw:
        stub = billing_pb2_grpc.BillingServiceStub(
            grpc.intercept_channel(raw, BearerToken(server.token))
        )
        for buyer, key in unanswered.items():
            give_up_at = time.monotonic() + 30
            while not retried(stub, buyer, key):
                assert time.monotonic() < give_up_at, f"the checkout of {buyer} never answered"
                time.sleep(0.1)
            answered.add(buyer)

    # "ok" in the audit means its caller got, or can get, the answer: every
    # answered checkout is audited once, and nothing else is.
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            audited = connection.scalars(
                select(AuditLogRow.account_id).where(
                    AuditLogRow.action == "CreateCheckout",
                    AuditLogRow.outcome == "ok",
                    AuditLogRow.account_id.like(f"{account}_%"),
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(str(audited_account) for audited_account in audited) == sorted(answered)


def retried(stub: Any, buyer: str, key: str) -> bool:
    try:
        stub.CreateCheckout(
            billing_pb2.CreateCheckoutRequest(account_id=buyer, plan="pro", idempotency_key=key),
            timeout=5,
        )
    except grpc.RpcError as error:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED):
            return False
        raise
    return True


def test_a_silent_partition_fails_calls_unavailable_within_their_deadline(
    proxied: tuple[BillingServer, TcpProxy],
) -> None:
    server, proxy = proxied
    deadline_s = 3.0
    with grpc.insecure_channel(server.target) as raw:
        stub = billing_pb2_grpc.BillingServiceStub(
            grpc.intercept_channel(raw, BearerToken(server.token))
        )
        account = f"acct_partition_{uuid.uuid4().hex[:8]}"
        # Warm: the pool holds open connections, which the partition freezes.
        for _ in range(4):
            start_checkout(stub, f"{account}_{uuid.uuid4().hex[:6]}", deadline_s)
        proxy.hold()
        try:
            held_at = time.monotonic()
            with ThreadPoolExecutor(max_workers=4) as pool:
                # Caught by the partition on a pooled connection: cut at its deadline.
                in_flight = pool.submit(
                    timed_failure, lambda: start_checkout(stub, f"{account}_caught", deadline_s)
                )
                wait_until(lambda: not serving(raw), 4 * PROBE_INTERVAL_S, "readiness to flip")
                flipped_after = time.monotonic() - held_at
                caught = in_flight.result(timeout=deadline_s + 5)
                # Once the partition is known, calls fail at once.
                endings = list(
                    pool.map(
                        lambda n: timed_failure(
                            lambda: start_checkout(stub, f"{account}_{n}", deadline_s)
                        ),
                        range(4),
                    )
                )
            read = timed_failure(
                lambda: stub.GetSubscription(
                    billing_pb2.GetSubscriptionRequest(account_id=account), timeout=deadline_s
                )
            )
        finally:
            proxy.release()
        assert flipped_after < 4 * PROBE_INTERVAL_S
        for code, took in [caught, *endings, read]:
            assert code == grpc.StatusCode.UNAVAILABLE, (code, took)
            assert took < deadline_s
        wait_until(lambda: serving(raw), 15, "readiness to come back")
        start_checkout(stub, f"{account}_after", deadline_s)


PROBE_INTERVAL_S = 0.3


def start_checkout(stub: Any, buyer: str, timeout_s: float) -> None:
    stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(
            account_id=buyer, plan="pro", idempotency_key=uuid.uuid4().hex
        ),
        timeout=timeout_s,
    )


def timed_failure(call: Callable[[], object]) -> tuple[grpc.StatusCode, float]:
    started = time.monotonic()
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), time.monotonic() - started
    return grpc.StatusCode.OK, time.monotonic() - started
