"""Resident memory of billing-server with every account in its view.

    .venv/bin/python -m bench.memory
        [--database-url postgresql://postgres@127.0.0.1:5432/paymentsvc_bench] [--sqlite [PATH]]

Needs the database of `bench.load_subscriptions`. Starts billing-server twice
in the same run: on an empty, migrated database (the bare process), then on
the loaded one, where it loads every account into its view before it reports
SERVING. Prints the time to SERVING, VmRSS from /proc/<pid>/status after a
CheckPlan warm-up, and the difference per account.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench._accounts import CHECK_PLAN, RandomAccounts
from bench._billing_server import bearer, start_billing_server
from bench._database import DEFAULT_SQLITE, DEFAULT_URL, migrate, recreate, scalar
from bench._grpc_load import GrpcLoad, run_load
from bench._processes import WORK_DIR, rss_mb
from bench._provenance import code_under_test
from billing_server.domain.callers import Scope

EMPTY_SQLITE = WORK_DIR / "paymentsvc_bench_empty.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sqlite", type=Path, nargs="?", const=DEFAULT_SQLITE)
    args = parser.parse_args()

    url = f"sqlite:///{args.sqlite}" if args.sqlite else args.database_url
    accounts = scalar(url, "SELECT count(*) FROM accounts")
    empty = (
        f"sqlite:///{EMPTY_SQLITE}"
        if args.sqlite
        else url.rsplit("/", 1)[0] + "/paymentsvc_bench_empty"
    )
    recreate(empty)
    migrate(empty)
    print(code_under_test())
    bare = _measure("empty database", empty, 1)
    loaded = _measure(f"{accounts:,} accounts", url, accounts)
    grown = loaded - bare
    print(
        f"\nview of {accounts:,} accounts: {grown:+.1f} MB = "
        f"{grown * 2**20 / max(accounts, 1):.0f} bytes/account; whole process {loaded:.1f} MB RSS"
    )


def _measure(label: str, url: str, accounts: int) -> float:
    started = time.monotonic()
    server, target = start_billing_server(url)
    try:
        ready = time.monotonic() - started
        # Touch the hot path so that its one-off costs are in both figures.
        run_load(
            "warm-up",
            [GrpcLoad(target, CHECK_PLAN, RandomAccounts(accounts, 1), 16, 3.0, 0.0,
                      bearer([Scope.READ]))],
            {server.pid: "billing-server"},
        )  # fmt: skip
        rss = rss_mb(server.pid)
    finally:
        server.stop()
    print(f"billing-server, {label}: SERVING after {ready:5.1f} s, {rss:8.1f} MB RSS ({url})")
    return rss


if __name__ == "__main__":
    main()
