"""Running the bare grpcio echo baseline, shared by grpc_baseline and check_plan."""

from __future__ import annotations

import grpc

from bench._echo_server import METHOD
from bench._grpc_load import GrpcLoad, LoadRun, Repeat, run_load, split
from bench._processes import Process, free_port, wait_until
from paymentsvc_testing.processes import listening

# About the size of a CheckPlan request and answer.
ECHO_PAYLOAD = b"acct_0001234:pro:" + b"x" * 33


def measure_echo(
    concurrency: int,
    duration_s: float,
    processes: int,
    threads: int = 4,
    *,
    servers: int = 1,
    connections: int = 1,
) -> LoadRun:
    """Starts the echo server (`servers` processes sharing the port, as
    billing-server's do), loads it over `connections` per generator process,
    and stops it."""
    port = free_port()
    target = f"127.0.0.1:{port}"
    echoes = [
        Process.module(
            "echo-server", "bench._echo_server", "--port", str(port), "--threads", str(threads)
        )
        for _ in range(servers)
    ]
    try:
        wait_until(lambda: all(e.running() and listening(e.pid, port) for e in echoes), 20, "echo")
        wait_until(lambda: _answers(target), 20, "echo server")
        loads = [
            GrpcLoad(target, METHOD, Repeat(ECHO_PAYLOAD), n, duration_s, connections=connections)
            for n in split(concurrency, processes)
        ]
        label = f"bare grpcio ({threads} thr)" + (f" x{servers}" if servers > 1 else "")
        return run_load(label, loads, {e.pid: "echo server" for e in echoes})
    finally:
        for echo in echoes:
            echo.stop()


def _answers(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        echo: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
        return bool(echo(b"ping", timeout=1) == b"ping")
