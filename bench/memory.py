"""Resident memory of billing-server: idle, then after CheckPlan touched every account.

    .venv/bin/python -m bench.memory [--accounts K] [--max-seconds 600]
        [--database-url postgresql://postgres@127.0.0.1:5432/paymentsvc_bench] [--sqlite [PATH]]

Needs the database of `bench.load_subscriptions`. Asks CheckPlan once for
each of the first K accounts (all loaded accounts by default), 64 calls in
flight, in shuffled order, and prints VmRSS from /proc/<pid>/status along the
way. Stops after --max-seconds even if not every account was touched, and
says how many were.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench._accounts import CHECK_PLAN, AccountSequence, shuffled
from bench._billing_server import bearer, start_billing_server
from bench._database import DEFAULT_SQLITE, DEFAULT_URL, scalar
from bench._grpc_load import GrpcLoad, run_load
from bench._processes import rss_mb
from bench._provenance import code_under_test
from billing_server.adapters.tokens import Scope

# RSS is printed after each batch of this many accounts; the first, small
# batch opens the pool's connections and warms the code paths, so that the
# growth after it is what the accounts themselves cost.
FIRST_BATCH = 1_000
BATCH = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sqlite", type=Path, nargs="?", const=DEFAULT_SQLITE)
    parser.add_argument("--accounts", type=int, help="K (default: all accounts loaded)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop touching after")
    args = parser.parse_args()

    url = f"sqlite:///{args.sqlite}" if args.sqlite else args.database_url
    accounts = args.accounts or scalar(url, "SELECT count(*) FROM accounts")
    order = shuffled(accounts, seed=7)
    print(code_under_test())
    server, target = start_billing_server(url)
    try:
        time.sleep(2.0)  # let start-up settle
        idle = rss_mb(server.pid)
        print(f"billing-server idle:  {idle:8.1f} MB RSS ({url})")
        metadata = bearer([Scope.READ])
        touched = 0
        warm = idle
        give_up_at = time.monotonic() + args.max_seconds
        while touched < accounts and time.monotonic() < give_up_at:
            batch = tuple(order[touched : touched + (BATCH if touched else FIRST_BATCH)])
            left = give_up_at - time.monotonic()
            run = run_load(
                "touch",
                [GrpcLoad(target, CHECK_PLAN, AccountSequence(batch), args.concurrency,
                          left, 0.0, metadata)],
                {server.pid: "billing-server"},
            )  # fmt: skip
            if run.codes:
                print(f"  errors: {run.codes}")
            touched += run.issued[0]
            if touched <= FIRST_BATCH:
                warm = rss_mb(server.pid)
            print(
                f"  {touched:>9,} accounts touched: {rss_mb(server.pid):8.1f} MB RSS"
                f"  ({run.summary.rate:.0f} CheckPlan/s)"
            )
        final = rss_mb(server.pid)
    finally:
        server.stop()
    print(f"billing-server after touching {touched:,} of {accounts:,} accounts: {final:.1f} MB RSS")
    grown = final - idle
    print(
        f"growth since idle: {grown:+.1f} MB = {grown * 2**20 / max(touched, 1):+.0f} bytes/account"
    )
    later = max(touched - FIRST_BATCH, 1)
    grown = final - warm
    print(
        f"growth after the first {FIRST_BATCH:,} (warm-up): {grown:+.1f} MB = "
        f"{grown * 2**20 / later:+.0f} bytes/account"
    )


if __name__ == "__main__":
    main()
