"""Throughput and latency of a bare grpcio server, the ceiling for CheckPlan.

    .venv/bin/python -m bench.grpc_baseline [--concurrency 64] [--duration 15]

A grpcio server with a 4-thread pool echoes a ~50-byte message, in its own
process; a grpc.aio generator in separate processes keeps N calls in flight.
"""

from __future__ import annotations

import argparse

from bench._baseline import measure_echo
from bench._stats import table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured")
    parser.add_argument("--load-processes", type=int, default=1, help="generator processes")
    parser.add_argument("--threads", type=int, default=4, help="server thread pool")
    args = parser.parse_args()

    run = measure_echo(args.concurrency, args.duration, args.load_processes, args.threads)
    print(f"{args.concurrency} calls in flight, {args.duration:.0f} s measured after 2 s warm-up")
    print(table([run.summary]))
    print(run.cpu.line())
    if run.codes:
        print(f"errors: {run.codes}")


if __name__ == "__main__":
    main()
