"""Fills a fresh database with K accounts, each with an active subscription.

    .venv/bin/python -m bench.load_subscriptions [--accounts 1000000]
        [--database-url postgresql://postgres@127.0.0.1:5432/paymentsvc_bench]
    .venv/bin/python -m bench.load_subscriptions --sqlite /tmp/paymentsvc-bench/paymentsvc_bench.db

The database is dropped, created and migrated with `billing-admin migrate`;
then the rows go in with COPY (PostgreSQL) or one executemany transaction
(SQLite). Plans come from the shipped catalogue, 70% pro and 30% enterprise.
Account i is `acct_bench_{i:07d}`, which the other benchmarks rely on.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._accounts import account_id, customer_id, subscription_id
from bench._database import (
    DEFAULT_SQLITE,
    DEFAULT_URL,
    engine,
    migrate,
    recreate_postgres,
    recreate_sqlite,
)
from billing_server.adapters.catalog_file import load_catalog
from billing_server.config import DEFAULT_PLANS_FILE

ACCOUNT_COLUMNS = (
    "account_id",
    "stripe_customer_id",
    "state_version",
    "state_updated_at",
    "created_at",
)
SUBSCRIPTION_COLUMNS = (
    "stripe_subscription_id", "account_id", "stripe_customer_id", "plan", "stripe_price_id",
    "stripe_item_id", "status", "current_period_start", "current_period_end",
    "cancel_at_period_end", "canceled_at", "ended_at", "past_due_since", "stripe_created_at",
    "stripe_state_at", "updated_at",
)  # fmt: skip


class _Lines(io.RawIOBase):
    """A file whose read() hands COPY lines from a generator, a chunk at a time."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 1 << 20 if size is None or size < 0 else size
        parts = [self._pending]
        have = len(self._pending)
        for line in self._lines:
            encoded = line.encode()
            parts.append(encoded)
            have += len(encoded)
            if have >= size:
                break
        data = b"".join(parts)
        self._pending = data[size:]
        return data[:size]


class _Rows:
    """The column values of every row, as text in each database's format."""

    def __init__(self, accounts: int, *, sqlite: bool) -> None:
        self.accounts = accounts
        now = datetime.now(UTC).replace(microsecond=0)
        fmt = "%Y-%m-%d %H:%M:%S.%f" if sqlite else "%Y-%m-%d %H:%M:%S+00"
        self.now = now.strftime(fmt)
        self.start = (now - timedelta(days=5)).strftime(fmt)
        self.end = (now + timedelta(days=25)).strftime(fmt)
        self.false = "0" if sqlite else "f"
        plans = [p for p in load_catalog(DEFAULT_PLANS_FILE).plans if p.purchasable]
        by_name = {p.name: p for p in plans}
        # Seven in ten on pro, the rest on enterprise.
        chosen = [by_name["pro"]] * 7 + [by_name["enterprise"]] * 3
        self.plans = [(p.name, f"price_bench_{p.price_lookup_key or p.price_id}") for p in chosen]

    def account(self, i: int) -> tuple[str, ...]:
        return (account_id(i), customer_id(i), "1", self.now, self.now)

    def subscription(self, i: int) -> tuple[str | None, ...]:
        plan, price = self.plans[i % 10]
        sub = subscription_id(i)
        return (
            sub, account_id(i), customer_id(i), plan, price, f"si_{sub}", "active", self.start,
            self.end, self.false, None, None, None, self.start, self.start, self.now,
        )  # fmt: skip


def load_postgres(url: str, rows: _Rows) -> dict[str, float]:
    db = engine(url)
    # The driver's own connection: COPY is psycopg2's copy_expert.
    connection: Any = db.raw_connection().driver_connection
    seconds: dict[str, float] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            # The rows are consistent by construction: skip the per-row
            # foreign-key trigger (needs a superuser, as on this machine).
            cursor.execute("SET session_replication_role = replica")
            for table, columns, make in (
                ("accounts", ACCOUNT_COLUMNS, rows.account),
                ("subscriptions", SUBSCRIPTION_COLUMNS, rows.subscription),
            ):
                lines = (
                    "\t".join(r"\N" if v is None else v for v in make(i)) + "\n"
                    for i in range(rows.accounts)
                )
                started = time.perf_counter()
                cursor.copy_expert(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN", _Lines(lines), 1 << 20
                )
                seconds[table] = time.perf_counter() - started
            connection.commit()
            started = time.perf_counter()
            cursor.execute("ANALYZE accounts; ANALYZE subscriptions")
            connection.commit()
            seconds["analyze"] = time.perf_counter() - started
    finally:
        connection.close()
        db.dispose()
    return seconds


def load_sqlite(path: Path, rows: _Rows) -> dict[str, float]:
    seconds: dict[str, float] = {}
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA synchronous = OFF")
        for table, columns, make in (
            ("accounts", ACCOUNT_COLUMNS, rows.account),
            ("subscriptions", SUBSCRIPTION_COLUMNS, rows.subscription),
        ):
            started = time.perf_counter()
            marks = ", ".join("?" * len(columns))
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                (make(i) for i in range(rows.accounts)),
            )
            seconds[table] = time.perf_counter() - started
        connection.commit()
        started = time.perf_counter()
        connection.execute("ANALYZE")
        seconds["analyze"] = time.perf_counter() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--sqlite", type=Path, nargs="?", const=DEFAULT_SQLITE, help="a SQLite file instead"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    if args.sqlite:
        url = recreate_sqlite(args.sqlite)
    else:
        url = args.database_url
        recreate_postgres(url)
    migrate(url)
    prepared = time.perf_counter() - started
    rows = _Rows(args.accounts, sqlite=bool(args.sqlite))
    seconds = load_sqlite(args.sqlite, rows) if args.sqlite else load_postgres(url, rows)

    print(f"database: {url} (created and migrated in {prepared:.1f} s)")
    for table in ("accounts", "subscriptions"):
        print(
            f"{table:<14} {args.accounts:>10,} rows in {seconds[table]:6.1f} s"
            f"  = {args.accounts / seconds[table]:>9,.0f} rows/s"
        )
    total = seconds["accounts"] + seconds["subscriptions"]
    print(
        f"{'both':<14} {2 * args.accounts:>10,} rows in {total:6.1f} s"
        f"  = {2 * args.accounts / total:>9,.0f} rows/s (ANALYZE {seconds['analyze']:.1f} s)"
    )


if __name__ == "__main__":
    main()
