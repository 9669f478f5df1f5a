"""billing-server on several processes sharing one port (PAYMENTSVC_GRPC_PROCESSES)."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_client import BillingClient
from paymentsvc_testing.processes import children, established, listening
from tests.e2e.conftest import (
    READINESS,
    BillingServer,
    Emulator,
    server_env,
    start_server,
    token,
)
from tests.e2e.services import BearerToken, free_port, run_script, wait_until

pytestmark = pytest.mark.e2e
CHANNELS = 16


@pytest.fixture
def two_processes(database_url: str, emulator: Emulator, e2e_logs: Path) -> Iterator[BillingServer]:
    env = server_env(database_url, emulator, free_port())
    env["PAYMENTSVC_GRPC_PROCESSES"] = "2"
    server = start_server(env, e2e_logs)
    yield server
    server.process.stop()


def test_both_processes_serve_hear_every_change_and_drain(
    two_processes: BillingServer, emulator: Emulator, account_id: str
) -> None:
    server = two_processes
    port = int(server.target.rsplit(":", 1)[1])
    pids = children(server.process.popen.pid)
    assert len(pids) == 2
    # Ready was answered by one of them; the other may still be starting.
    wait_until(lambda: all(listening(pid, port) for pid in pids), 30, "both to listen")

    channels = [
        # Distinct channel arguments: no connection shared between channels.
        grpc.insecure_channel(
            server.target,
            options=[
                ("grpc.use_local_subchannel_pool", 1),
                ("grpc.primary_user_agent", f"e2e-{n}"),
            ],
        )
        for n in range(CHANNELS)
    ]
    stubs = [
        billing_pb2_grpc.BillingServiceStub(grpc.intercept_channel(c, BearerToken(token())))
        for c in channels
    ]
    try:

        def answers() -> list[bool]:
            request = billing_pb2.CheckPlanRequest(account_id=account_id, plan="pro")
            return [s.CheckPlan(request, timeout=5).allowed for s in stubs]

        assert not any(answers())  # every channel connected, each to one process
        connections = {pid: established(pid, port) for pid in pids}
        assert all(n > 0 for n in connections.values()), connections
        # Each process reports itself ready (a load balancer may ask either).
        for channel in channels:
            health: Any = health_pb2_grpc.HealthStub(channel)
            status = health.Check(health_pb2.HealthCheckRequest(service=READINESS), timeout=5)
            assert status.status == health_pb2.HealthCheckResponse.SERVING

        with BillingClient(
            server.target, service_name="e2e-tests", token=token(), insecure=True
        ) as billing:
            session = billing.create_checkout(account_id, "pro")
            emulator.complete_checkout(session.session_id)
            billing.confirm_checkout(session.session_id)
        # The process that wrote and the one that heard both answer anew.
        wait_until(lambda: all(answers()), 10, "both processes to see the subscription")

        metrics = httpx.get(server.metrics_url, timeout=5).text
        handled = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("paymentsvc_grpc_server_handled_total{")
            and 'grpc_method="CheckPlan"' in line
        )
        # Summed over both processes: at least the two rounds over every channel.
        assert handled >= 2 * CHANNELS
        counted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("paymentsvc_entitlement_answers_total{")
        )
        assert counted == handled  # every answer counted by where it came from
    finally:
        for channel in channels:
            channel.close()

    assert server.process.stop() == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_a_taken_port_is_one_line_and_exit_2(tmp_path: Path, emulator: Emulator) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = server_env(f"sqlite:///{tmp_path / 'unused.db'}", emulator, port)
        env["PAYMENTSVC_GRPC_PROCESSES"] = "2"
        result = run_script(["billing-server"], env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"billing-server: cannot listen on 127.0.0.1:{port}: Address already in use"
        " (move it with PAYMENTSVC_GRPC_ADDRESS)"
    ]


def test_no_server_process_outlives_a_killed_supervisor(two_processes: BillingServer) -> None:
    pids = children(two_processes.process.popen.pid)
    two_processes.process.popen.send_signal(signal.SIGKILL)
    two_processes.process.popen.wait(10)
    wait_until(lambda: not any(_alive(pid) for pid in pids), 20, "the server processes to stop")


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for its reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
