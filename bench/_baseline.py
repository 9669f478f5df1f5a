"""Running the bare grpcio echo baseline, shared by grpc_baseline and check_plan."""

from __future__ import annotations

import grpc

from bench._echo_server import METHOD
from bench._grpc_load import GrpcLoad, LoadRun, Repeat, run_load, split
from bench._processes import Process, free_port, wait_until

# About the size of a CheckPlan request and answer.
ECHO_PAYLOAD = b"acct_0001234:pro:" + b"x" * 33


def measure_echo(concurrency: int, duration_s: float, processes: int, threads: int = 4) -> LoadRun:
    """Starts the echo server, loads it and stops it."""
    port = free_port()
    target = f"127.0.0.1:{port}"
    with Process.module(
        "echo-server", "bench._echo_server", "--port", str(port), "--threads", str(threads)
    ) as server:
        wait_until(lambda: server.running() and _answers(target), 20, "echo server")
        loads = [
            GrpcLoad(target, METHOD, Repeat(ECHO_PAYLOAD), n, duration_s)
            for n in split(concurrency, processes)
        ]
        return run_load(f"bare grpcio ({threads} thr)", loads, {server.pid: "echo server"})


def _answers(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        echo: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
        return bool(echo(b"ping", timeout=1) == b"ping")
