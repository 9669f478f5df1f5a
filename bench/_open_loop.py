"""An open-loop HTTP POST generator: requests sent at a fixed rate, whatever the answers.

Request n of a process is due at start + n / rate. It goes out on the first
of the keep-alive connections that is free; when none is, it waits, and its
latency is counted from when it was due, not from when it went out. So a
server that falls behind shows it in the latency (no coordinated omission),
and the achieved send rate shows whether the generator kept up.
"""

from __future__ import annotations

import array
import asyncio
import multiprocessing
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import uvloop

from bench._cpu import CpuShares, CpuWindow
from bench._grpc_load import pool_pids
from bench._http_load import BodySource, read_response
from bench._stats import Summary

_SPAWN_LEAD_S = 1.5
# Requests still waiting for a connection this long after the last one was
# due are given up (status "not-sent"): a server that cannot keep up must not
# hold the run for ever.
_GRACE_S = 30.0


@dataclass(frozen=True)
class OpenLoad:
    host: str
    port: int
    path: str
    bodies: BodySource
    connections: int
    rate: float  # requests per second, this process
    duration_s: float
    # Process p of P sends requests p, p+P, ..., each offset by p / (P * rate).
    first: int = 0
    stride: int = 1


@dataclass
class OpenResult:
    latencies: bytes = b""  # array('d'), seconds from due to answer, 2xx answers
    statuses: dict[str, int] = field(default_factory=dict)
    ok_indices: bytes = b""  # array('q')
    sent: int = 0
    # Seconds from the start to the last request sent, and the latest a
    # request went out after it was due (no free connection).
    send_span_s: float = 0.0
    worst_send_delay_s: float = 0.0
    last_answer_s: float = 0.0  # from the start


@dataclass(frozen=True)
class OpenRun:
    summary: Summary
    statuses: dict[str, int]
    ok_indices: list[int]
    sent: int
    send_rate: float  # achieved, requests per second
    worst_send_delay_s: float
    cpu: CpuShares


def run_open_loop(label: str, loads: Sequence[OpenLoad], watch: Mapping[int, str]) -> OpenRun:
    """Runs one OpenLoad per process, all starting together; blocks until done."""
    start_at = time.time() + _SPAWN_LEAD_S
    context = multiprocessing.get_context("spawn")
    duration = loads[0].duration_s
    with ProcessPoolExecutor(len(loads), mp_context=context) as pool:
        futures = [pool.submit(_work, load, start_at) for load in loads]
        time.sleep(max(0.0, start_at - time.time()))
        cpu = CpuWindow()
        opened = time.monotonic()
        # Until the last answer: a server that falls behind takes longer.
        wait(futures, timeout=duration + _GRACE_S + 10)
        shares = cpu.close(watch, pool_pids(pool), time.monotonic() - opened)
        results = [f.result() for f in futures]
    latencies: list[float] = []
    ok: list[int] = []
    statuses: Counter[str] = Counter()
    for r in results:
        latencies.extend(array.array("d", r.latencies))
        ok.extend(array.array("q", r.ok_indices))
        statuses.update(r.statuses)
    sent = sum(r.sent for r in results)
    failed = sum(n for status, n in statuses.items() if not status.startswith("2"))
    # The last request is due one interval before the end of the span.
    span = max(r.send_span_s for r in results) + 1 / sum(load.rate for load in loads)
    # Throughput over the time answers took to come, the duration at least.
    answered_s = max(duration, *(r.last_answer_s for r in results))
    return OpenRun(
        Summary.of(label, latencies, failed, answered_s),
        dict(statuses),
        ok,
        sent,
        sent / span,
        max(r.worst_send_delay_s for r in results),
        shares,
    )


def _work(load: OpenLoad, start_at: float) -> OpenResult:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_drive(load, start_at))


async def _drive(load: OpenLoad, start_at: float) -> OpenResult:
    result = OpenResult()
    latencies = array.array("d")
    ok = array.array("q")
    statuses: Counter[str] = Counter()
    due: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    head = f"POST {load.path} HTTP/1.1\r\nHost: {load.host}:{load.port}\r\n"
    head += "Content-Type: application/json\r\n"
    total = int(load.duration_s * load.rate)
    connections = [
        await asyncio.open_connection(load.host, load.port) for _ in range(load.connections)
    ]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter() + load.first / (load.stride * load.rate)
    give_up_at = t0 + load.duration_s + _GRACE_S

    async def schedule() -> None:
        n = 0
        while n < total:
            now = time.perf_counter()
            while n < total and t0 + n / load.rate <= now:
                due.put_nowait((n, t0 + n / load.rate))
                n += 1
            await asyncio.sleep(max(0.0, t0 + n / load.rate - time.perf_counter()))
        for _ in connections:
            due.put_nowait(None)

    async def one_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (item := await due.get()) is not None:
                n, due_at = item
                if time.perf_counter() > give_up_at:
                    statuses["not-sent"] += 1
                    continue
                index = load.first + n * load.stride
                body, signature = load.bodies(index)
                request = (
                    f"{head}Stripe-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                started = time.perf_counter()
                result.sent += 1
                result.send_span_s = max(result.send_span_s, started - t0)
                result.worst_send_delay_s = max(result.worst_send_delay_s, started - due_at)
                try:
                    writer.write(request)
                    status, close, _ = await read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    status, close = "conn-error", True
                done = time.perf_counter()
                statuses[status] += 1
                result.last_answer_s = max(result.last_answer_s, done - t0)
                if status.startswith("2"):
                    latencies.append(done - due_at)
                if status == "200":
                    ok.append(index)
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection(load.host, load.port)
        finally:
            writer.close()

    await asyncio.gather(schedule(), *(one_connection(r, w) for r, w in connections))
    result.latencies = latencies.tobytes()
    result.ok_indices = ok.tobytes()
    result.statuses = dict(statuses)
    return result
