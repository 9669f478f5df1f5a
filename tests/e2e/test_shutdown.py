"""SIGTERM with calls in flight: both processes drain and exit 0, in time."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
import pytest
from sqlalchemy import make_url, text

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.database import make_engine
from stripe_emulator.testing import EmulatorControl
from tests import stripe_payloads
from tests.conftest import fresh_database
from tests.e2e.conftest import (
    E2E_WEBHOOK_SECRETS,
    BillingServer,
    Emulator,
    gateway_env,
    server_env,
    start_gateway,
    start_server,
)
from tests.e2e.resilience_support import NOT_SERVING, billing_stub, error_reason, health_status
from tests.e2e.services import Process, free_port, wait_until
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

CHECKOUT_ROUTE = "POST /v1/checkout/sessions"
IN_FLIGHT = 50
HANG_S = 1.5
DELAY_S = 1.0
GRACE_S = 5.0
EXIT_MARGIN_S = 5.0
CALLERS = 64


@pytest.fixture
def control(emulator: Emulator) -> Iterator[EmulatorControl]:
    control = EmulatorControl(emulator.url)
    yield control
    control.clear_faults()
    control.close()


@pytest.fixture
def started() -> Iterator[list[BillingServer]]:
    """The servers a test starts, stopped whatever the test ends with."""
    servers: list[BillingServer] = []
    yield servers
    for server in servers:
        server.process.stop(timeout_s=1)


def start_draining_server(
    started: list[BillingServer],
    database_url: str,
    emulator: Emulator,
    logs: Path,
    *,
    grace_s: float,
    delay_s: float,
    stripe_timeout_s: float = 10,
    workers: int | None = IN_FLIGHT + 8,
) -> BillingServer:
    env = server_env(database_url, emulator, free_port())
    env |= {
        "PAYMENTSVC_SHUTDOWN_DELAY": str(delay_s),
        "PAYMENTSVC_SHUTDOWN_GRACE": str(grace_s),
        "PAYMENTSVC_STRIPE_MAX_RETRIES": "0",
        "PAYMENTSVC_STRIPE_TIMEOUT": str(stripe_timeout_s),
        "PAYMENTSVC_STRIPE_BREAKER_FAILURES": str(IN_FLIGHT * 4),
        "PAYMENTSVC_RATE_LIMITS": "default=100000/100000",
    }
    if workers is not None:
        # Every call gets a worker of its own: all of them are truly in flight.
        env["PAYMENTSVC_GRPC_MAX_WORKERS"] = str(workers)
    server = start_server(env, logs)
    started.append(server)
    return server


def checkout(
    stub: billing_pb2_grpc.BillingServiceStub, timeout_s: float = 30
) -> grpc.StatusCode | grpc.RpcError:
    try:
        stub.CreateCheckout(
            billing_pb2.CreateCheckoutRequest(
                account_id=f"acct_{uuid.uuid4().hex[:16]}",
                plan="pro",
                idempotency_key=uuid.uuid4().hex,
            ),
            timeout=timeout_s,
        )
    except grpc.RpcError as error:
        return error
    return grpc.StatusCode.OK


def exit_code_within(process: Process, timeout_s: float) -> int | None:
    try:
        return process.popen.wait(timeout_s)
    except subprocess.TimeoutExpired:
        return None


def fire_in_flight(
    pool: ThreadPoolExecutor,
    stub: billing_pb2_grpc.BillingServiceStub,
    control: EmulatorControl,
) -> list[Future[grpc.StatusCode | grpc.RpcError]]:
    """IN_FLIGHT checkouts, returned once each hangs in Stripe's answer."""
    reached = control.route_count(CHECKOUT_ROUTE)
    calls = [pool.submit(checkout, stub) for _ in range(IN_FLIGHT)]
    wait_until(
        lambda: control.route_count(CHECKOUT_ROUTE) >= reached + IN_FLIGHT,
        15,
        f"{IN_FLIGHT} checkouts waiting on Stripe",
    )
    return calls


def code_of(ending: grpc.StatusCode | grpc.RpcError) -> grpc.StatusCode:
    return ending if isinstance(ending, grpc.StatusCode) else ending.code()


def refused_without_reaching_stripe(
    stub: billing_pb2_grpc.BillingServiceStub, control: EmulatorControl
) -> bool:
    """A new call is refused by the server itself: UNAVAILABLE, no reason of
    ours, and Stripe never asked."""
    reached = control.route_count(CHECKOUT_ROUTE)
    ending = checkout(stub, timeout_s=5)
    if not isinstance(ending, grpc.RpcError) or ending.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    return error_reason(ending) is None and control.route_count(CHECKOUT_ROUTE) == reached


def test_sigterm_drains_fifty_calls_in_flight_and_exits_0(
    database_url: str,
    emulator: Emulator,
    e2e_logs: Path,
    control: EmulatorControl,
    started: list[BillingServer],
) -> None:
    server = start_draining_server(
        started, database_url, emulator, e2e_logs, grace_s=GRACE_S, delay_s=DELAY_S
    )
    control.inject_fault("hang", count=-1, routes=[CHECKOUT_ROUTE], hang_s=HANG_S)
    with (
        billing_stub(server.target) as stub,
        ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool,
    ):
        calls = fire_in_flight(pool, stub, control)
        signalled = time.monotonic()
        server.process.popen.send_signal(signal.SIGTERM)

        # During the delay a new call is still served: it reaches Stripe and
        # gets Stripe's answer (the emulated failure), not a refusal.
        reached = control.route_count(CHECKOUT_ROUTE)
        late = checkout(stub)
        assert isinstance(late, grpc.RpcError)
        assert error_reason(late) == "STRIPE_UNAVAILABLE"
        assert control.route_count(CHECKOUT_ROUTE) == reached + 1
        assert time.monotonic() - signalled < DELAY_S + HANG_S + 1  # not after the drain

        # Then new calls are refused while the old ones drain.
        wait_until(
            lambda: refused_without_reaching_stripe(stub, control),
            DELAY_S + GRACE_S,
            "new calls to be refused",
        )

        endings = [call.result(timeout=DELAY_S + GRACE_S + EXIT_MARGIN_S) for call in calls]
    # The grace period outlasts Stripe's hang: each call got its own answer
    # (Stripe failed), none was cut off.
    assert {code_of(ending) for ending in endings} == {grpc.StatusCode.UNAVAILABLE}
    assert {error_reason(ending) for ending in endings if isinstance(ending, grpc.RpcError)} == {
        "STRIPE_UNAVAILABLE"
    }

    assert exit_code_within(server.process, DELAY_S + GRACE_S + EXIT_MARGIN_S) == 0
    assert time.monotonic() - signalled < DELAY_S + GRACE_S + EXIT_MARGIN_S
    assert server.process.stop() == 0
    assert "billing-server stopped" in server.process.log()


def test_calls_outliving_the_grace_period_are_answered_unavailable_and_the_server_exits_0(
    database_url: str,
    emulator: Emulator,
    e2e_logs: Path,
    control: EmulatorControl,
    started: list[BillingServer],
) -> None:
    # The grace leaves its last two seconds (Settings.drain_margin_s) to the
    # answers, and each call two more after its Stripe attempt: fifty calls
    # roll back and audit their failure at once. Attempts wait 3 s at most.
    delay_s, grace_s = 3.0, 4.0
    # Stripe hangs far longer than the grace period, and the Stripe client
    # would wait for it: the shutdown must not, nor cancel the calls.
    server = start_draining_server(
        started,
        database_url,
        emulator,
        e2e_logs,
        grace_s=grace_s,
        delay_s=delay_s,
        stripe_timeout_s=20,
    )
    control.inject_fault("hang", count=-1, routes=[CHECKOUT_ROUTE], hang_s=30)
    with (
        billing_stub(server.target) as stub,
        ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool,
    ):
        calls = fire_in_flight(pool, stub, control)
        signalled = time.monotonic()
        server.process.popen.send_signal(signal.SIGTERM)
        endings = [call.result(timeout=delay_s + grace_s + EXIT_MARGIN_S) for call in calls]
        exit_code = exit_code_within(server.process, delay_s + grace_s + EXIT_MARGIN_S)
        took = time.monotonic() - signalled
        server.process.stop(timeout_s=1)
    # Answered by the server before its grace ran out: retryable, never CANCELLED.
    assert {code_of(ending) for ending in endings} == {grpc.StatusCode.UNAVAILABLE}
    assert {error_reason(ending) for ending in endings if isinstance(ending, grpc.RpcError)} == {
        "STRIPE_UNAVAILABLE"
    }
    assert exit_code == 0, f"no exit within {delay_s + grace_s + EXIT_MARGIN_S}s of SIGTERM"
    assert took < delay_s + grace_s + EXIT_MARGIN_S


def test_sigterm_under_64_concurrent_callers_cancels_no_call_and_exits_0(
    database_url: str, emulator: Emulator, e2e_logs: Path, started: list[BillingServer]
) -> None:
    delay_s, grace_s = 5.0, 5.0  # the default delay: a busy machine may need it
    # The default worker pool: most of the callers queue for a worker.
    server = start_draining_server(
        started, database_url, emulator, e2e_logs, grace_s=grace_s, delay_s=delay_s, workers=None
    )
    signalled = threading.Event()
    # The load balancer: it goes on sending here for a while after SIGTERM
    # (well within the delay), then stops.
    balancer_lag_s = 1.0
    drained_from_balancer = threading.Event()
    endings: list[tuple[grpc.StatusCode, bool]] = []
    lock = threading.Lock()

    def caller(stub: billing_pb2_grpc.BillingServiceStub, n: int) -> None:
        while not drained_from_balancer.is_set():
            after_signal = signalled.is_set()
            ending = checkout(stub) if n % 2 else check_plan(stub)
            with lock:
                endings.append((code_of(ending), after_signal))

    with (
        billing_stub(server.target) as stub,
        ThreadPoolExecutor(max_workers=CALLERS) as pool,
    ):
        callers = [pool.submit(caller, stub, n) for n in range(CALLERS)]
        try:
            wait_until(lambda: len(endings) >= CALLERS, 30, "every caller to get an answer")
            server.process.popen.send_signal(signal.SIGTERM)
            signalled_at = time.monotonic()
            signalled.set()
            drained_from_balancer.wait(balancer_lag_s)
        finally:
            drained_from_balancer.set()
        for call in callers:
            call.result(timeout=delay_s + grace_s)
        # The server says it is going away (once its main thread has run the
        # signal handler, which a loaded machine may hold back a while).
        wait_until(
            lambda: health_status(server.target) == NOT_SERVING,
            delay_s,
            "health to report NOT_SERVING after SIGTERM",
        )
        exit_code = exit_code_within(server.process, delay_s + grace_s + EXIT_MARGIN_S)
        took = time.monotonic() - signalled_at
        server.process.stop(timeout_s=1)

    assert any(after for _, after in endings), "no call was sent after SIGTERM"
    codes = Counter(code for code, _ in endings)
    assert codes == {grpc.StatusCode.OK: len(endings)}, codes
    assert exit_code == 0
    assert took < delay_s + grace_s + EXIT_MARGIN_S


def check_plan(stub: billing_pb2_grpc.BillingServiceStub) -> grpc.StatusCode | grpc.RpcError:
    try:
        stub.CheckPlan(
            billing_pb2.CheckPlanRequest(account_id=f"acct_{uuid.uuid4().hex[:16]}", plan="free"),
            timeout=30,
        )
    except grpc.RpcError as error:
        return error
    return grpc.StatusCode.OK


def test_the_gateway_drains_webhooks_in_flight_and_exits_0(
    tmp_path_factory: pytest.TempPathFactory, emulator: Emulator, e2e_logs: Path
) -> None:
    with fresh_database(tmp_path_factory) as database_url:
        env = server_env(database_url, emulator, free_port())
        server = start_server(env, e2e_logs)
        gateway = start_gateway(
            gateway_env(server.target, free_port(), E2E_WEBHOOK_SECRETS), e2e_logs
        )
        try:
            payloads = [signed_event() for _ in range(3)]
            # The inbox's writes wait for this lock: the deliveries are in
            # flight, stuck on their commit, when the gateway is told to stop.
            with (
                httpx.Client(base_url=gateway.url, timeout=30) as http,
                ThreadPoolExecutor(max_workers=len(payloads)) as pool,
            ):
                with writes_held(database_url):
                    deliveries = [pool.submit(post_signed, http, p) for p in payloads]
                    wait_until(
                        lambda: intake_waiting(server) == len(payloads),
                        10,
                        "deliveries waiting for their commit",
                    )
                    signalled = time.monotonic()
                    gateway.process.popen.send_signal(signal.SIGTERM)
                    # Still draining: nothing it took in has been answered yet.
                    assert gateway.process.popen.poll() is None
                    assert not any(d.done() for d in deliveries)
                answers = [delivery.result(timeout=20) for delivery in deliveries]
            assert exit_code_within(gateway.process, 15) == 0
            assert time.monotonic() - signalled < 15
            assert [answer.status_code for answer in answers] == [200] * len(payloads)
            assert {answer.json()["outcome"] for answer in answers} == {"stored"}
        finally:
            gateway.process.stop()
            assert server.process.stop() == 0


def signed_event() -> bytes:
    suffix = uuid.uuid4().hex[:12]
    now = datetime.now(UTC).replace(microsecond=0)
    return stripe_payloads.event(
        "customer.subscription.created",
        stripe_payloads.subscription(
            f"sub_{suffix}", f"cus_{suffix}", period_start=now, account_id=f"acct_{suffix}"
        ),
        now,
    )


def post_signed(http: httpx.Client, payload: bytes) -> httpx.Response:
    return http.post(
        "/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": signature_header(payload, E2E_WEBHOOK_SECRETS[0])},
    )


def intake_waiting(server: BillingServer) -> float:
    body = httpx.get(server.metrics_url, timeout=5).text
    found = re.search(r"^paymentsvc_webhook_intake_waiting (\S+)$", body, re.MULTILINE)
    return float(found[1]) if found else 0.0


@contextmanager
def writes_held(database_url: str) -> Iterator[None]:
    """Holds the database's write lock (SQLite) or the inbox table's (PostgreSQL)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        sqlite = sqlite3.connect(url.database, isolation_level=None)
        try:
            sqlite.execute("BEGIN IMMEDIATE")
            yield
        finally:
            sqlite.execute("ROLLBACK")
            sqlite.close()
        return
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("LOCK TABLE stripe_events IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                connection.rollback()
    finally:
        engine.dispose()
