"""CheckPlan and GetEntitlements on the real billing-server against the bare
grpcio baseline, with 1 and 2 server processes.

    .venv/bin/python -m bench.check_plan [--duration 15] [--concurrency 64]
        [--server-processes 1,2] [--connections 8]
        [--database-url postgresql://postgres@127.0.0.1:5432/paymentsvc_bench]
        [--sqlite [PATH]]

Needs the database of `bench.load_subscriptions`. For each count of server
processes: the bare echo server with that many processes on one port, then
billing-server with PAYMENTSVC_GRPC_PROCESSES set to it, under the same load
shape: N calls in flight over `--connections` TCP connections, each
CheckPlan(plan="pro") with a service token, for an account drawn uniformly
from all of them; then GetEntitlements the same way. Also prints the time
from start to ready (the whole view loaded) and the resident memory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import grpc

from bench._accounts import CHECK_PLAN, RandomAccounts, account_id, check_plan_request
from bench._baseline import measure_echo
from bench._billing_server import bearer, start_billing_server
from bench._database import DEFAULT_SQLITE, DEFAULT_URL, scalar
from bench._grpc_load import GrpcLoad, LoadRun, run_load, split
from bench._pg_activity import PgActivity, settle
from bench._processes import rss_mb, wait_until
from bench._provenance import code_under_test
from bench._stats import ratio_line, table
from billing.v1 import billing_pb2
from billing_server.domain.callers import Scope
from paymentsvc_testing.processes import children, listening

GET_ENTITLEMENTS = "/billing.v1.BillingService/GetEntitlements"


class EntitlementsFor(RandomAccounts):
    def __call__(self, i: int) -> bytes | None:
        return billing_pb2.GetEntitlementsRequest(
            account_id=account_id(self._random.randrange(self.accounts))
        ).SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sqlite", type=Path, nargs="?", const=DEFAULT_SQLITE)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight")
    parser.add_argument("--load-processes", type=int, default=1, help="generator processes")
    parser.add_argument("--connections", type=int, default=8, help="per generator process")
    parser.add_argument("--server-processes", default="1,2", help="comma-separated counts")
    args = parser.parse_args()

    url = f"sqlite:///{args.sqlite}" if args.sqlite else args.database_url
    accounts = scalar(url, "SELECT count(*) FROM accounts")
    if accounts == 0:
        raise SystemExit(f"no accounts in {url}: run bench.load_subscriptions first")
    counts = [int(n) for n in args.server_processes.split(",")]
    shares = split(args.concurrency, args.load_processes)
    print(code_under_test())
    print(f"CheckPlan over {accounts:,} accounts in {url}")
    print(
        f"{args.concurrency} calls in flight over {args.connections * len(shares)} connections, "
        f"{args.duration:.0f} s per run\n"
    )

    rows = []
    ratios = []
    for n in counts:
        baseline = measure_echo(
            args.concurrency,
            args.duration,
            args.load_processes,
            servers=n,
            connections=args.connections,
        )
        print(f"baseline x{n}: {baseline.cpu.line()}")
        check, entitlements = _measure_server(url, accounts, n, shares, args)
        rows += [baseline.summary, check.summary, entitlements.summary]
        ratios += [ratio_line(check.summary, baseline.summary)]
        ratios += [ratio_line(entitlements.summary, baseline.summary)]

    print()
    print(table(rows))
    for line in ratios:
        print(line)


def _measure_server(
    url: str, accounts: int, processes: int, shares: list[int], args: argparse.Namespace
) -> tuple[LoadRun, LoadRun]:
    started = time.monotonic()
    server, target = start_billing_server(url, {"PAYMENTSVC_GRPC_PROCESSES": str(processes)})
    try:
        pids = children(server.pid) if processes > 1 else [server.pid]
        port = int(target.rsplit(":", 1)[1])
        # Ready was answered by one process; wait until each one is.
        wait_until(lambda: all(listening(p, port) for p in pids), 120, "every process")
        ready_s = time.monotonic() - started
        metadata = bearer([Scope.READ])
        _check_answer(target, metadata)
        watch = dict.fromkeys(pids, "billing-server")
        before = PgActivity.read(url)
        check = run_load(
            f"CheckPlan x{processes}",
            [
                GrpcLoad(target, CHECK_PLAN, RandomAccounts(accounts, seed), n, args.duration,
                         metadata=metadata, connections=args.connections)
                for seed, n in enumerate(shares)
            ],
            watch,
        )  # fmt: skip
        settle()
        after = PgActivity.read(url)
        print(f"CheckPlan x{processes}: {check.cpu.line()}")
        if before and after:
            print(after.since(before, sum(check.issued), f"CheckPlan x{processes}"))
        entitlements = run_load(
            f"GetEntitlements x{processes}",
            [
                GrpcLoad(target, GET_ENTITLEMENTS, EntitlementsFor(accounts, seed), n,
                         args.duration, metadata=metadata, connections=args.connections)
                for seed, n in enumerate(shares)
            ],
            watch,
        )  # fmt: skip
        rss = sum(rss_mb(p) for p in pids)
        print(
            f"billing-server x{processes}: ready {ready_s:.1f} s after start, "
            f"{rss:.0f} MB RSS in all ({rss / processes:.0f} MB per process)"
        )
        for run in (check, entitlements):
            if run.codes:
                print(f"{run.summary.label} errors: {run.codes}")
        return check, entitlements
    finally:
        server.stop()


def _check_answer(target: str, metadata: tuple[tuple[str, str], ...]) -> None:
    """The loaded accounts must be entitled: the load measures the real path."""
    with grpc.insecure_channel(target) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(CHECK_PLAN)
        raw = call(check_plan_request(0), metadata=metadata, timeout=10)
    answer = billing_pb2.CheckPlanResponse.FromString(raw)
    if not answer.allowed:
        raise SystemExit(f"CheckPlan for {account_id(0)} is not allowed: {answer}")


if __name__ == "__main__":
    main()
