"""CheckPlan through a database cut: how many calls are answered, how many
marked stale, and how soon answers are current again.

    .venv/bin/python -m bench.outage [--cut 30] [--concurrency 16]
        [--database-url postgresql://postgres@127.0.0.1:5432/paymentsvc_bench]

Needs the database of `bench.load_subscriptions` (PostgreSQL). Starts
billing-server with its database behind a TCP proxy, and calls CheckPlan
from `--concurrency` threads for accounts drawn uniformly: 5 s before the
cut, `--cut` seconds with the proxy refusing and dropping every connection,
then after the proxy is back until answers are no longer stale (and 5 s
more). Prints each phase's calls, answers, stale answers and errors, and the
time from the restore to the first current answer.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
from sqlalchemy.engine import make_url

from bench._accounts import account_id
from bench._billing_server import bearer, start_billing_server
from bench._database import DEFAULT_URL, scalar
from bench._provenance import code_under_test
from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.domain.callers import Scope
from paymentsvc_testing.tcp_proxy import TcpProxy


@dataclass
class Phase:
    name: str
    calls: int = 0
    stale: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        answered = self.calls - sum(self.errors.values())
        share = 100 * answered / self.calls if self.calls else 0.0
        return (
            f"{self.name:<8} {self.calls:>8,} calls, {answered:>8,} answered ({share:5.1f}%), "
            f"{self.stale:>8,} marked stale, errors {dict(self.errors) or 'none'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--cut", type=float, default=30.0, help="seconds without a database")
    parser.add_argument("--concurrency", type=int, default=16, help="calling threads")
    args = parser.parse_args()

    accounts = scalar(args.database_url, "SELECT count(*) FROM accounts")
    url = make_url(args.database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    print(code_under_test())
    print(f"CheckPlan over {accounts:,} accounts, {args.concurrency} threads, {args.cut:.0f} s cut")
    server, target = start_billing_server(through, {"PAYMENTSVC_DB_CONNECT_TIMEOUT": "2"})
    phase = Phase("before")
    first_current: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()

    def call() -> None:
        rng = random.Random()
        metadata = bearer([Scope.READ])
        with grpc.insecure_channel(target) as channel:
            stub = billing_pb2_grpc.BillingServiceStub(channel)
            while not stop.is_set():
                request = billing_pb2.CheckPlanRequest(
                    account_id=account_id(rng.randrange(accounts)), plan="pro"
                )
                current, code = phase, None
                stale = False
                try:
                    stale = stub.CheckPlan(request, metadata=metadata, timeout=5).stale
                except grpc.RpcError as error:
                    code = error.code().name
                with lock:
                    current.calls += 1
                    current.stale += stale
                    if code is not None:
                        current.errors[code] += 1
                    elif not stale and current.name == "after" and not first_current:
                        first_current.append(time.monotonic())

    threads = [threading.Thread(target=call) for _ in range(args.concurrency)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(5.0)
        phases = [phase]
        phase = Phase("cut")
        phases.append(phase)
        proxy.cut()
        time.sleep(args.cut)
        phase = Phase("after")
        phases.append(phase)
        restored = time.monotonic()
        proxy.restore()
        give_up = restored + 120
        while not first_current and time.monotonic() < give_up:
            time.sleep(0.05)
        time.sleep(5.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        server.stop()
        proxy.cut()
    print()
    for p in phases:
        print(p.line())
    if first_current:
        print(f"first current answer {first_current[0] - restored:.2f} s after the restore")
    else:
        print("no current answer within 120 s of the restore")


if __name__ == "__main__":
    main()
