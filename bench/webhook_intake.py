"""End-to-end webhook intake against a bare Starlette endpoint that only checks HMACs.

    .venv/bin/python -m bench.webhook_intake [--duration 15] [--clients 64]
        [--subscriptions 300] [--sqlite [PATH]]
        [--database-url postgresql://postgres@127.0.0.1:5432/paymentsvc_bench_webhooks]

First the bare endpoint (bench._hmac_endpoint), then webhook-gateway in front
of billing-server on a fresh database, both loaded the same way: N keep-alive
HTTP clients POST signed `customer.subscription.updated` events (distinct
ids, `created` growing) for the duration. Then the database is checked: every
event answered 200 must be processed (else lost), and the accounts' state
versions must have grown once per applied event (more: double-applied).
"""

from __future__ import annotations

import argparse
import socket
import time
import uuid
from pathlib import Path

from bench._billing_server import start_billing_server, token
from bench._database import migrate, recreate_postgres, recreate_sqlite, rows, scalar
from bench._hmac_endpoint import PATH
from bench._http_load import HttpLoad, HttpRun, run_http_load
from bench._pg_activity import PgActivity, settle
from bench._processes import WORK_DIR, Process, free_port, wait_until
from bench._provenance import code_under_test
from bench._stats import ratio_line, table
from bench._webhook_events import WEBHOOK_SECRET, SignedEvents, event_id
from billing_server.adapters.tokens import Scope

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/paymentsvc_bench_webhooks"
DEFAULT_SQLITE = WORK_DIR / "paymentsvc_bench_webhooks.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="dropped and recreated")
    parser.add_argument("--sqlite", type=Path, nargs="?", const=DEFAULT_SQLITE)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--clients", type=int, default=64, help="concurrent HTTP connections")
    parser.add_argument("--subscriptions", type=int, default=300)
    parser.add_argument("--load-processes", type=int, default=1, help="generator processes")
    args = parser.parse_args()

    print(code_under_test())
    bare = _measure_bare(args)
    print(f"bare endpoint: {bare.cpu.line()}")

    url = recreate_sqlite(args.sqlite) if args.sqlite else args.database_url
    if not args.sqlite:
        recreate_postgres(url)
    migrate(url)
    run_tag = uuid.uuid4().hex[:8]
    server, target = start_billing_server(url)
    try:
        gateway = _start_gateway(target)
        before = PgActivity.read(url)
        try:
            intake = run_http_load(
                "webhook intake (e2e)",
                _loads(args, gateway[1], run_tag),
                {gateway[0].pid: "webhook-gateway", server.pid: "billing-server"},
            )
        finally:
            gateway[0].stop()
        print(f"intake: {intake.cpu.line()}")
        settle()
        after = PgActivity.read(url)
        if before and after:
            print(after.since(before, intake.sent, "the intake run"))
    finally:
        server.stop()

    print(f"\n{args.clients} keep-alive clients, {args.duration:.0f} s per run, "
          f"{args.subscriptions} subscriptions, database {url}")  # fmt: skip
    print(table([bare.summary, intake.summary], unit="events/s"))
    print(ratio_line(intake.summary, bare.summary))
    for run in (bare, intake):
        print(f"{run.summary.label}: {run.sent} sent, answers {run.statuses}")
    _check_database(url, run_tag, intake)


def _measure_bare(args: argparse.Namespace) -> HttpRun:
    port = free_port()
    with Process.module("hmac-endpoint", "bench._hmac_endpoint", "--port", str(port)) as process:
        wait_until(lambda: process.running() and _listening(port), 20, "bare endpoint")
        return run_http_load(
            "bare Starlette HMAC", _loads(args, port, "bare"), {process.pid: "bare endpoint"}
        )


def _start_gateway(billing_target: str) -> tuple[Process, int]:
    port = free_port()
    env = {
        "PAYMENTSVC_BILLING_TOKEN": token("webhook-gateway", [Scope.INGEST]),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PAYMENTSVC_BILLING_TARGET": billing_target,
        "PAYMENTSVC_GATEWAY_HOST": "127.0.0.1",
        "PAYMENTSVC_GATEWAY_PORT": str(port),
    }
    process = Process.script("webhook-gateway", env)
    try:
        wait_until(lambda: process.running() and _listening(port), 30, "webhook-gateway")
    except Exception:
        process.stop()
        raise
    return process, port


def _loads(args: argparse.Namespace, port: int, run_tag: str) -> list[HttpLoad]:
    # Thirty days back leaves room for one `created` second per event.
    events = SignedEvents(run_tag, args.subscriptions, int(time.time()) - 30 * 86400)
    p = args.load_processes
    return [
        HttpLoad("127.0.0.1", port, PATH, events, args.clients // p + (i < args.clients % p),
                 args.duration, first=i, stride=p)
        for i in range(p)
    ]  # fmt: skip


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def _check_database(url: str, run_tag: str, run: HttpRun) -> None:
    stored = rows(url, "SELECT event_id, status, outcome FROM stripe_events")
    by_status: dict[str, int] = {}
    for _, status, outcome in stored:
        key = f"{status}/{outcome}" if outcome else str(status)
        by_status[key] = by_status.get(key, 0) + 1
    processed = {str(e) for e, status, _ in stored if status == "processed"}
    answered = {event_id(run_tag, i) for i in run.ok_indices}
    lost = len(answered - processed)
    duplicates = len(stored) - len({e for e, _, _ in stored})
    applied = sum(1 for _, _, outcome in stored if outcome == "applied")
    bumps = scalar(url, "SELECT coalesce(sum(state_version), 0) FROM accounts")
    print(f"\nstripe_events: {len(stored)} rows {by_status}; 200 answers: {len(run.ok_indices)} "
          f"({len(answered)} distinct)")  # fmt: skip
    print(f"processed without a 200 (client saw an error, Stripe would redeliver): "
          f"{len(processed - answered)}")  # fmt: skip
    print(f"state versions {bumps} vs applied events {applied}")
    # An event applied twice bumps its account's state version twice.
    print(f"lost: {lost}, double-applied: {max(0, bumps - applied)}, duplicate rows: {duplicates}")
    if bumps < applied:
        print(f"note: {applied - bumps} applied events changed nothing (no state bump)")


if __name__ == "__main__":
    main()
