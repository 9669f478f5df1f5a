"""An HTTP/1.1 keep-alive POST load generator on raw sockets, in separate processes.

httpx costs more CPU per request than the endpoints measured here; a few
lines of asyncio over uvloop keep the generator far from being the limit.
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
from typing import Protocol

import uvloop

from bench._cpu import CpuShares, CpuWindow
from bench._grpc_load import pool_pids
from bench._stats import Summary

_SPAWN_LEAD_S = 1.5
# What webhook-gateway's 200 says it did ("stored", "duplicate", "ignored"),
# as small codes; the bare endpoint's 200 says nothing (code 0).
OUTCOMES = ("", "stored", "duplicate", "ignored")
_OUTCOME_KEY = b'"outcome":"'


class BodySource(Protocol):
    """The i-th request: its body and its Stripe-Signature header."""

    def __call__(self, i: int) -> tuple[bytes, str]: ...


@dataclass(frozen=True)
class HttpLoad:
    host: str
    port: int
    path: str
    bodies: BodySource
    connections: int
    duration_s: float
    warmup_s: float = 2.0
    # Process p of P sends requests p, p+P, p+2P, ...: indices never repeat.
    first: int = 0
    stride: int = 1
    max_requests: int | None = None  # per process


@dataclass
class HttpResult:
    latencies: bytes = b""  # array('d'), seconds, 2xx answers in the window
    statuses: dict[str, int] = field(default_factory=dict)  # whole run, warm-up included
    failed_in_window: int = 0
    ok_indices: bytes = b""  # array('q'): every request answered 200
    ok_outcomes: bytes = b""  # array('b'), OUTCOMES codes, in step with ok_indices
    sent: int = 0


@dataclass(frozen=True)
class HttpRun:
    summary: Summary
    statuses: dict[str, int]
    ok_indices: list[int]
    # What each 200 of ok_indices said (OUTCOMES), in the same order.
    ok_outcomes: list[str]
    sent: int
    cpu: CpuShares
    # Seconds measured: the duration, or less when every request was sent
    # and answered before it ended (HttpLoad.max_requests).
    elapsed_s: float


def run_http_load(label: str, loads: Sequence[HttpLoad], watch: Mapping[int, str]) -> HttpRun:
    start_at = time.time() + _SPAWN_LEAD_S
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(loads), mp_context=context) as pool:
        futures = [pool.submit(_work, load, start_at) for load in loads]
        time.sleep(max(0.0, start_at + loads[0].warmup_s - time.time()))
        cpu = CpuWindow()
        opened = time.monotonic()
        # Returns early when every process ran out of requests.
        wait(futures, timeout=loads[0].duration_s)
        elapsed = min(time.monotonic() - opened, loads[0].duration_s)
        shares = cpu.close(watch, pool_pids(pool), elapsed)
        results = [f.result() for f in futures]
    latencies: list[float] = []
    ok: list[int] = []
    outcomes: list[str] = []
    statuses: Counter[str] = Counter()
    for r in results:
        latencies.extend(array.array("d", r.latencies))
        ok.extend(array.array("q", r.ok_indices))
        outcomes.extend(OUTCOMES[code] for code in array.array("b", r.ok_outcomes))
        statuses.update(r.statuses)
    return HttpRun(
        Summary.of(label, latencies, sum(r.failed_in_window for r in results), elapsed),
        dict(statuses),
        ok,
        outcomes,
        sum(r.sent for r in results),
        shares,
        elapsed,
    )


def _work(load: HttpLoad, start_at: float) -> HttpResult:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_drive(load, start_at))


async def _drive(load: HttpLoad, start_at: float) -> HttpResult:
    result = HttpResult()
    latencies = array.array("d")
    ok = array.array("q")
    ok_outcomes = array.array("b")
    statuses: Counter[str] = Counter()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    measure_from = time.perf_counter() + load.warmup_s
    measure_until = measure_from + load.duration_s
    taken = iter(range(load.max_requests if load.max_requests is not None else 1 << 62))
    head = f"POST {load.path} HTTP/1.1\r\nHost: {load.host}:{load.port}\r\n"
    head += "Content-Type: application/json\r\n"

    async def one_connection() -> None:
        reader, writer = await asyncio.open_connection(load.host, load.port)
        try:
            while time.perf_counter() < measure_until:
                n = next(taken, None)
                if n is None:
                    return
                index = load.first + n * load.stride
                body, signature = load.bodies(index)
                request = (
                    f"{head}Stripe-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                result.sent += 1
                started = time.perf_counter()
                try:
                    writer.write(request)
                    status, close, answer = await read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    status, close, answer = "conn-error", True, b""
                done = time.perf_counter()
                statuses[status] += 1
                if status == "200":
                    ok.append(index)
                    ok_outcomes.append(outcome_code(answer))
                if measure_from <= done <= measure_until:
                    if status.startswith("2"):
                        latencies.append(done - started)
                    else:
                        result.failed_in_window += 1
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection(load.host, load.port)
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(load.connections)))
    result.latencies = latencies.tobytes()
    result.ok_indices = ok.tobytes()
    result.ok_outcomes = ok_outcomes.tobytes()
    result.statuses = dict(statuses)
    return result


def outcome_code(answer: bytes) -> int:
    """The OUTCOMES code of a 200's JSON body, found without parsing it."""
    at = answer.find(_OUTCOME_KEY)
    if at < 0:
        return 0
    start = at + len(_OUTCOME_KEY)
    word = answer[start : answer.find(b'"', start)].decode()
    return OUTCOMES.index(word) if word in OUTCOMES else 0


async def read_response(reader: asyncio.StreamReader) -> tuple[str, bool, bytes]:
    """The status code, whether the server closes the connection, and the body."""
    status_line = await reader.readline()
    if not status_line:
        raise asyncio.IncompleteReadError(b"", None)
    status = status_line.split(b" ", 2)[1].decode()
    length = 0
    close = False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    return status, close, await reader.readexactly(length)
