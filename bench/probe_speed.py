"""How long a container health check takes: billing-probe beside its baselines.

    .venv/bin/python -m bench.probe_speed [--runs 20] [--busy N]

Starts billing-server on a fresh SQLite database, then runs each command
--runs times, one after another, and prints the wall time of each (median,
p90, max): `python -c pass` (starting an interpreter at all), `python -c
"import grpc"` (the probe's one library), `billing-probe` and `billing-admin
healthcheck` (which loads the service's configuration and libraries first).
Then again with N busy-looping processes competing for the CPUs (default:
one per core), as on a loaded host.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from bench._billing_server import start_billing_server
from bench._database import DEFAULT_SQLITE, migrate, recreate_sqlite
from bench._processes import Process, script_argv
from bench._provenance import code_under_test
from bench._stats import percentile

BUSY_LOOP = "while True: pass"


def commands() -> dict[str, list[str]]:
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import grpc"': [sys.executable, "-c", "import grpc"],
        "billing-probe": script_argv("billing-probe"),
        "billing-admin healthcheck": [*script_argv("billing-admin"), "healthcheck"],
    }


def time_runs(argv: Sequence[str], env: dict[str, str], runs: int) -> list[float]:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False, timeout=60)
        took.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode()}")
    return sorted(took)


def report(title: str, env: dict[str, str], runs: int) -> None:
    print(f"\n{title}")
    print(f"{'':<30}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}")
    for label, argv in commands().items():
        took = time_runs(argv, env, runs)
        print(
            f"{label:<30}{percentile(took, 50) * 1e3:>11.0f}"
            f"{percentile(took, 90) * 1e3:>9.0f}{took[-1] * 1e3:>9.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 1, help="busy processes")
    args = parser.parse_args()
    print(code_under_test())
    url = recreate_sqlite(DEFAULT_SQLITE.with_name("probe_speed.db"))
    migrate(url)
    server, target = start_billing_server(url)
    env = {**os.environ, "PAYMENTSVC_GRPC_ADDRESS": target, "SQLALCHEMY_DATABASE_URI": url}
    try:
        report(f"idle machine, {args.runs} runs each", env, args.runs)
        busy = [Process("busy", [sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
        try:
            report(f"{args.busy} busy-looping processes, {args.runs} runs each", env, args.runs)
        finally:
            for process in busy:
                process.stop()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
