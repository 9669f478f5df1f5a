"""CheckPlan on the real billing-server against the bare grpcio baseline.

    .venv/bin/python -m bench.check_plan [--accounts K] [--duration 15] [--concurrency 64]
        [--database-url postgresql://postgres@127.0.0.1:5432/paymentsvc_bench]
        [--sqlite [PATH]] [--cold]

Needs the database of `bench.load_subscriptions` (K is read from it by
default). Runs the bare echo server first, then billing-server with the same
load shape: N calls in flight, each CheckPlan(plan="pro") with a service
token, for an account drawn uniformly from all K. `--cold` adds a first pass
over a shuffled sequence of accounts, then a second pass over the same
accounts, before the uniform load.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import grpc

from bench._accounts import (
    CHECK_PLAN,
    AccountSequence,
    RandomAccounts,
    account_id,
    check_plan_request,
    shuffled,
)
from bench._baseline import measure_echo
from bench._billing_server import bearer, start_billing_server
from bench._database import DEFAULT_SQLITE, DEFAULT_URL, scalar
from bench._grpc_load import GrpcLoad, LoadRun, run_load, split
from bench._pg_activity import PgActivity, settle
from bench._provenance import code_under_test
from bench._stats import ratio_line, table
from billing.v1 import billing_pb2
from billing_server.adapters.tokens import Scope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sqlite", type=Path, nargs="?", const=DEFAULT_SQLITE)
    parser.add_argument("--accounts", type=int, help="K (default: all accounts loaded)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight")
    parser.add_argument("--load-processes", type=int, default=1, help="generator processes")
    parser.add_argument("--cold", action="store_true", help="first vs second pass")
    args = parser.parse_args()

    url = f"sqlite:///{args.sqlite}" if args.sqlite else args.database_url
    accounts = args.accounts or scalar(url, "SELECT count(*) FROM accounts")
    if accounts == 0:
        raise SystemExit(f"no accounts in {url}: run bench.load_subscriptions first")
    shares = split(args.concurrency, args.load_processes)
    print(code_under_test())
    print(f"CheckPlan over {accounts:,} accounts in {url}")
    print(f"{args.concurrency} calls in flight, {args.duration:.0f} s per run\n")

    baseline = measure_echo(args.concurrency, args.duration, args.load_processes)
    print(f"baseline: {baseline.cpu.line()}")

    server, target = start_billing_server(url)
    metadata = bearer([Scope.READ])
    try:
        _check_answer(target, metadata)
        runs: list[LoadRun] = []
        if args.cold:
            runs += _passes(target, metadata, accounts, shares, args.duration, server.pid)
        loads = [
            GrpcLoad(target, CHECK_PLAN, RandomAccounts(accounts, seed), n, args.duration,
                     metadata=metadata)
            for seed, n in enumerate(shares)
        ]  # fmt: skip
        before = PgActivity.read(url)
        uniform = run_load("CheckPlan (uniform)", loads, {server.pid: "billing-server"})
        print(f"CheckPlan: {uniform.cpu.line()}")
        settle()
        after = PgActivity.read(url)
        if before and after:
            # Warm-up calls included: the counters cannot tell them apart.
            print(after.since(before, sum(uniform.issued), "the uniform run"))
        for run in (*runs, uniform):
            if run.codes:
                print(f"{run.summary.label} errors: {run.codes}")
    finally:
        server.stop()

    print()
    print(table([baseline.summary, *(r.summary for r in runs), uniform.summary]))
    print(ratio_line(uniform.summary, baseline.summary))
    if runs:
        print(ratio_line(runs[0].summary, runs[1].summary))


def _passes(
    target: str,
    metadata: tuple[tuple[str, str], ...],
    accounts: int,
    shares: list[int],
    duration_s: float,
    server_pid: int,
) -> list[LoadRun]:
    """A first pass over accounts never asked for, then the same ones again."""
    order = shuffled(accounts, seed=42)
    # Disjoint slices, one per process, larger than a run can finish.
    per = min(len(order) // len(shares), 200_000)
    slices = [tuple(order[i * per : (i + 1) * per]) for i in range(len(shares))]
    first = run_load(
        "CheckPlan 1st pass (cold)",
        [
            GrpcLoad(target, CHECK_PLAN, AccountSequence(s), n, duration_s, 0.0, metadata)
            for s, n in zip(slices, shares, strict=True)
        ],
        {server_pid: "billing-server"},
    )
    print(f"1st pass: {first.cpu.line()}")
    second = run_load(
        "CheckPlan 2nd pass (same)",
        [
            GrpcLoad(target, CHECK_PLAN, AccountSequence(s[:done]), n, duration_s, 0.0, metadata)
            for s, n, done in zip(slices, shares, first.issued, strict=True)
        ],
        {server_pid: "billing-server"},
    )
    print(f"2nd pass: {second.cpu.line()}")
    print(f"cold passes: {sum(first.issued):,} accounts, each asked once per pass")
    return [first, second]


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
