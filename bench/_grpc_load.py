"""A unary gRPC load generator: N calls in flight, in separate processes.

Each process runs grpc.aio on its own channel with its share of the calls in
flight, so that the generator does not fight the server for one interpreter.
Only calls that complete inside the measuring window count; a warm-up before
it lets connections and caches settle.
"""

from __future__ import annotations

import array
import asyncio
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from bench._cpu import CpuShares, CpuWindow
from bench._stats import Summary

# Time for the spawned processes to import grpc and connect before the start.
_SPAWN_LEAD_S = 2.0


class RequestSource(Protocol):
    """The i-th request of a process, serialized; None when there are no more."""

    def __call__(self, i: int) -> bytes | None: ...


@dataclass(frozen=True)
class Repeat:
    payload: bytes

    def __call__(self, i: int) -> bytes | None:
        return self.payload


@dataclass(frozen=True)
class GrpcLoad:
    target: str
    method: str
    requests: RequestSource
    concurrency: int
    duration_s: float
    warmup_s: float = 2.0
    metadata: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0
    # TCP connections of this process, its calls spread over them: several
    # server processes on one port (SO_REUSEPORT) share connections, not calls.
    connections: int = 1


@dataclass
class WorkerResult:
    latencies: bytes = b""  # array('d') of seconds
    failed: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    issued: int = 0  # requests taken from the source, warm-up included
    pid: int = 0
    # Seconds of the window in which calls completed: shorter than the
    # window when the source ran out first.
    active_s: float = 0.0


@dataclass(frozen=True)
class LoadRun:
    summary: Summary
    codes: dict[str, int]
    issued: list[int]  # per process
    cpu: CpuShares


def run_load(label: str, loads: Sequence[GrpcLoad], watch: Mapping[int, str]) -> LoadRun:
    """Runs one GrpcLoad per process, all starting together; blocks until done."""
    start_at = time.time() + _SPAWN_LEAD_S
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(loads), mp_context=context) as pool:
        futures = [pool.submit(_work, load, start_at) for load in loads]
        window = loads[0].warmup_s, loads[0].duration_s
        time.sleep(max(0.0, start_at + window[0] - time.time()))
        cpu = CpuWindow()
        opened = time.monotonic()
        # Returns early when every process ran out of requests.
        wait(futures, timeout=window[1])
        shares = cpu.close(watch, pool_pids(pool), time.monotonic() - opened)
        results = [f.result() for f in futures]
    latencies: list[float] = []
    codes: Counter[str] = Counter()
    for result in results:
        latencies.extend(array.array("d", result.latencies))
        codes.update(result.codes)
    duration = max(r.active_s for r in results) or loads[0].duration_s
    return LoadRun(
        summary=Summary.of(label, latencies, sum(r.failed for r in results), duration),
        codes=dict(codes),
        issued=[r.issued for r in results],
        cpu=shares,
    )


def split(total: int, parts: int) -> list[int]:
    """`total` calls in flight shared out over `parts` processes."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _work(load: GrpcLoad, start_at: float) -> WorkerResult:
    return asyncio.run(_drive(load, start_at))


async def _drive(load: GrpcLoad, start_at: float) -> WorkerResult:
    result = WorkerResult(pid=os.getpid())
    latencies = array.array("d")
    codes: Counter[str] = Counter()
    # A channel of its own for each connection: no subchannel is shared.
    channels = [
        grpc.aio.insecure_channel(load.target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(load.connections)
    ]
    try:
        # Bytes in, bytes out: the generator spends nothing on decoding.
        calls: list[grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = [
            channel.unary_unary(load.method) for channel in channels
        ]
        for channel in channels:
            await asyncio.wait_for(channel.channel_ready(), 10)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        now = time.perf_counter()
        measure_from = now + load.warmup_s
        measure_until = measure_from + load.duration_s
        counter = iter(range(1 << 62))

        async def one_stream(call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]) -> None:
            while True:
                started = time.perf_counter()
                if started >= measure_until:
                    return
                request = load.requests(next(counter))
                if request is None:
                    return
                result.issued += 1
                try:
                    await call(request, metadata=load.metadata, timeout=load.timeout_s)
                    code = None
                except grpc.aio.AioRpcError as error:
                    code = error.code().name
                done = time.perf_counter()
                if measure_from <= done <= measure_until:
                    result.active_s = max(result.active_s, done - measure_from)
                    if code is None:
                        latencies.append(done - started)
                    else:
                        result.failed += 1
                        codes[code] += 1

        await asyncio.gather(*(one_stream(calls[i % len(calls)]) for i in range(load.concurrency)))
    finally:
        for channel in channels:
            await channel.close()
    if result.active_s >= load.duration_s * 0.99:
        result.active_s = load.duration_s
    result.latencies = latencies.tobytes()
    result.codes = dict(codes)
    return result


def pool_pids(pool: ProcessPoolExecutor) -> set[int]:
    # The pool's processes are the load generator in the CPU shares.
    processes = getattr(pool, "_processes", None) or {}
    return set(processes)
