"""The entitlement view in real server processes: read-your-writes across
two replicas with min_state_version, and last-known answers through a
database cut."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_client import BillingClient, PlanCache
from paymentsvc_testing.tcp_proxy import TcpProxy
from tests.conftest import TEST_DATABASE_ENV
from tests.e2e.conftest import (
    BillingServer,
    Emulator,
    server_behind_proxy,
    server_env,
    start_server,
    token,
)
from tests.e2e.services import BearerToken, free_port, wait_until

pytestmark = pytest.mark.e2e
ON_POSTGRES = bool(os.environ.get(TEST_DATABASE_ENV))
STALE_SERVE_MAX_S = 3.0


@pytest.fixture
def two_replicas(
    database_url: str, emulator: Emulator, e2e_logs: Path
) -> Iterator[tuple[BillingServer, BillingServer]]:
    first = start_server(server_env(database_url, emulator, free_port()), e2e_logs)
    env = server_env(database_url, emulator, free_port())
    # On SQLite the second replica hears of the first one's changes only when
    # it polls: never, during this test. (PostgreSQL's NOTIFY is immediate.)
    env["PAYMENTSVC_CHANGE_POLL_INTERVAL"] = "3600"
    second = start_server(env, e2e_logs)
    yield first, second
    second.process.stop()
    first.process.stop()


def client(server: BillingServer, cache: PlanCache | None = None) -> BillingClient:
    return BillingClient(
        server.target, service_name="e2e-tests", token=token(), insecure=True, cache=cache
    )


def test_a_client_reads_its_own_write_on_a_replica_that_has_not_heard(
    two_replicas: tuple[BillingServer, BillingServer], emulator: Emulator, account_id: str
) -> None:
    a, b = two_replicas
    shared = PlanCache()  # one client's cache, calls spread over two replicas
    with client(a, shared) as via_a, client(b, shared) as via_b, client(b) as unaware:
        assert not unaware.check_plan(account_id, plan="pro").allowed
        session = via_a.create_checkout(account_id, "pro")
        emulator.complete_checkout(session.session_id)
        written = via_a.confirm_checkout(session.session_id)

        if not ON_POSTGRES:
            # The precondition that makes this test mean something: b's view
            # has not heard of the change, so without a version it answers
            # what it knew.
            assert not unaware.check_plan(account_id, plan="pro").allowed
        answer = via_b.check_plan(account_id, plan="pro")
        assert answer.allowed
        assert answer.state_version >= written.state_version

    with grpc.insecure_channel(b.target) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(
            grpc.intercept_channel(channel, BearerToken(token()))
        )
        kept = stub.CheckPlan(
            billing_pb2.CheckPlanRequest(
                account_id=account_id, plan="pro", min_state_version=written.state_version
            ),
            timeout=5,
        )
        # The read-through refreshed b's view: the next answer is from memory.
        assert kept.allowed
        assert kept.source == billing_pb2.ANSWER_SOURCE_VIEW
        with pytest.raises(grpc.RpcError) as ahead:
            stub.CheckPlan(
                billing_pb2.CheckPlanRequest(
                    account_id=account_id,
                    plan="pro",
                    min_state_version=written.state_version + 100,
                ),
                timeout=5,
            )
        assert ahead.value.code() is grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture
def behind_a_proxy(
    database_url: str, emulator: Emulator, e2e_logs: Path
) -> Iterator[tuple[BillingServer, TcpProxy]]:
    with server_behind_proxy(
        database_url, emulator, e2e_logs, {"PAYMENTSVC_STALE_SERVE_MAX": str(STALE_SERVE_MAX_S)}
    ) as behind:
        yield behind


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (a server to take away)")
def test_answers_continue_marked_stale_then_stop_after_the_maximum(
    behind_a_proxy: tuple[BillingServer, TcpProxy], emulator: Emulator, account_id: str
) -> None:
    server, proxy = behind_a_proxy
    with client(server) as billing:
        session = billing.create_checkout(account_id, "pro")
        emulator.complete_checkout(session.session_id)
        billing.confirm_checkout(session.session_id)

    with grpc.insecure_channel(server.target) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(
            grpc.intercept_channel(channel, BearerToken(token()))
        )

        def check() -> billing_pb2.CheckPlanResponse:
            request = billing_pb2.CheckPlanRequest(account_id=account_id, plan="pro")
            return stub.CheckPlan(request, timeout=5)

        wait_until(lambda: check().source == billing_pb2.ANSWER_SOURCE_VIEW, 10, "a view answer")
        assert not check().stale
        proxy.cut()
        wait_until(lambda: check().stale, 15, "answers marked stale")

        stale: list[billing_pb2.CheckPlanResponse] = []
        refused_at: datetime | None = None
        deadline = time.monotonic() + STALE_SERVE_MAX_S + 20
        codes: list[grpc.StatusCode] = []
        while refused_at is None and time.monotonic() < deadline:
            try:
                stale.append(check())
            except grpc.RpcError as error:
                codes.append(error.code())
                refused_at = datetime.now(UTC)
        assert codes == [grpc.StatusCode.UNAVAILABLE]
        assert refused_at is not None, "stale answers went on past the maximum"
        assert stale, "no answer was served from the view during the cut"
        assert all(a.allowed and a.stale for a in stale)  # the last-known answer, marked
        known = stale[0].known_current_at.ToDatetime(UTC)
        assert all(a.known_current_at.ToDatetime(UTC) == known for a in stale)
        assert refused_at >= known + timedelta(seconds=STALE_SERVE_MAX_S)
        metrics = httpx.get(server.metrics_url, timeout=5).text
        counted = next(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith('paymentsvc_entitlement_answers_total{source="stale"}')
        )
        assert counted >= len(stale)

        proxy.restore()
        wait_until(lambda: _answers_fresh(check), 20, "fresh answers after the cut")


def _answers_fresh(check: Callable[[], billing_pb2.CheckPlanResponse]) -> bool:
    try:
        answer = check()
    except grpc.RpcError:
        return False
    return bool(answer.allowed and not answer.stale)
