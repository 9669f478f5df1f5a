"""Freshness: from a change's commit to every replica and a watcher knowing it.

Starts three billing-server replicas on one PostgreSQL database and a
WatchEntitlements stream on one of them. For each change it warms the
account in every replica's view, commits the change as the service does
(state version bump and NOTIFY in one transaction), then measures how long
until (a) all three replicas answer CheckPlan with the new version and
(b) the watch stream delivers the notice. Prints p50/p99 of both.

    .venv/bin/python -m bench.freshness [--changes 1000] [--accounts 50]
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import grpc
from sqlalchemy import text

from bench._billing_server import bearer, start_billing_server
from bench._database import engine, migrate, recreate_postgres
from bench._stats import percentile
from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.account_repository import CHANGES_CHANNEL
from billing_server.domain.callers import Scope

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/paymentsvc_bench_freshness"


class Watcher:
    """Records when each (account, version) notice arrives."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = billing_pb2_grpc.BillingServiceStub(self._channel)
        self._seen: dict[tuple[str, int], float] = {}
        self._condition = threading.Condition()
        self._ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        self._ready.wait(10)

    def _pump(self) -> None:
        stream = self._stub.WatchEntitlements(
            billing_pb2.WatchEntitlementsRequest(), metadata=bearer([Scope.READ])
        )
        try:
            for notice in stream:
                self._ready.set()
                if notice.WhichOneof("notice") == "change":
                    with self._condition:
                        key = (notice.change.account_id, notice.change.state_version)
                        self._seen[key] = time.perf_counter()
                        self._condition.notify_all()
        except grpc.RpcError:
            pass

    def arrival(self, account_id: str, version: int, timeout_s: float = 5) -> float:
        with self._condition:
            self._condition.wait_for(lambda: (account_id, version) in self._seen, timeout_s)
            return self._seen.get((account_id, version), float("nan"))

    def close(self) -> None:
        self._channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()

    recreate_postgres(args.database_url)
    migrate(args.database_url)
    db = engine(args.database_url)
    accounts = [f"acct_fresh_{n}" for n in range(args.accounts)]
    with db.begin() as connection:
        for account in accounts:
            connection.execute(
                text(
                    "INSERT INTO accounts (account_id, state_version, created_at) "
                    "VALUES (:a, 0, now())"
                ),
                {"a": account},
            )

    servers = [start_billing_server(args.database_url) for _ in range(args.replicas)]
    channels = [grpc.insecure_channel(target) for _, target in servers]
    stubs = [billing_pb2_grpc.BillingServiceStub(c) for c in channels]
    metadata = bearer([Scope.READ])
    # The watcher sits on the last replica: most changes reach it by NOTIFY.
    watcher = Watcher(servers[-1][1])

    def version_on(stub: billing_pb2_grpc.BillingServiceStub, account: str) -> int:
        request = billing_pb2.CheckPlanRequest(account_id=account, plan="free")
        return int(stub.CheckPlan(request, metadata=metadata, timeout=5).state_version)

    def seen_by(stub: billing_pb2_grpc.BillingServiceStub, account: str, version: int) -> float:
        deadline = time.perf_counter() + 5
        while version_on(stub, account) < version:
            if time.perf_counter() > deadline:
                return float("nan")
        return time.perf_counter()

    replicas_ms: list[float] = []
    watch_ms: list[float] = []
    with ThreadPoolExecutor(max_workers=len(stubs)) as pool:
        for n in range(args.changes):
            account = accounts[n % len(accounts)]
            for stub in stubs:
                version_on(stub, account)  # in every replica's view now
            with db.begin() as connection:
                version = int(
                    connection.scalar(
                        text(
                            "UPDATE accounts SET state_version = state_version + 1, "
                            "state_updated_at = :now WHERE account_id = :a "
                            "RETURNING state_version"
                        ),
                        {"a": account, "now": datetime.now(UTC)},
                    )
                    or 0
                )
                connection.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": CHANGES_CHANNEL, "payload": f"{account} {version}"},
                )
            committed = time.perf_counter()
            arrivals = list(
                pool.map(seen_by, stubs, [account] * len(stubs), [version] * len(stubs))
            )
            replicas_ms.append((max(arrivals) - committed) * 1000)
            watch_ms.append((watcher.arrival(account, version) - committed) * 1000)

    for label, values in (("all replicas", replicas_ms), ("watch stream", watch_ms)):
        ordered = sorted(v for v in values if v == v)
        lost = len(values) - len(ordered)
        p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
        print(
            f"{label:<14} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
            f"   max {ordered[-1] if ordered else 0:6.2f} ms   over {len(values)} changes"
            f"   missed {lost}"
        )
    watcher.close()
    for channel in channels:
        channel.close()
    for process, _ in servers:
        process.stop()
    db.dispose()


if __name__ == "__main__":
    main()
