"""Webhook intake end to end, in three parts, beside a bare endpoint that only checks HMACs.

    .venv/bin/python -m bench.webhook_intake [--duration 15] [--clients 64]
        [--sqlite [PATH]] [--database-url URL] [--skip-sustained] [--skip-burst]
        [--sustained-rate 1000] [--sustained-seconds 60] [--burst-subscriptions 20000]

webhook-gateway forwards each delivery to billing-server, which stores it
and answers; its applier threads apply stored events afterwards. Each part
runs on a fresh database with its own server and gateway:

1. Acknowledgement throughput (bench._ack_throughput): N keep-alive clients
   post signed `customer.subscription.updated` events for the duration, to
   the bare Starlette endpoint (bench._hmac_endpoint), then to the gateway.
   After the drain: lost events, retried events, and whether every
   subscription holds its newest event's state (order kept).
2. Sustained load (bench._sustained_load): an open-loop generator at a fixed
   rate; the stored -> applied lag of every event and billing-server's CPU
   time per event applied.
3. Renewal-day burst (bench._renewal_burst): five events for each of S
   subscriptions, shuffled, a tenth delivered twice, as fast as they are
   accepted, with a Stripe emulator holding the true final states: time to
   accept and to drain, peak backlog, duplicates, outcomes, Stripe GETs, and
   subscriptions whose state differs from the emulator's.

Nothing here asserts on time: it prints figures, and the checks' counts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench._processes import WORK_DIR
from bench._stats import Summary, ratio_line, table

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/paymentsvc_bench_webhooks"
DEFAULT_SQLITE = WORK_DIR / "paymentsvc_bench_webhooks.db"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL, help="dropped and recreated")
    parser.add_argument("--sqlite", type=Path, nargs="?", const=DEFAULT_SQLITE)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds, part 1")
    parser.add_argument("--clients", type=int, default=64, help="keep-alive HTTP connections")
    parser.add_argument("--subscriptions", type=int, default=300, help="parts 1 and 2")
    parser.add_argument("--load-processes", type=int, default=1, help="generator processes")
    parser.add_argument("--skip-sustained", action="store_true")
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--sustained-rate", type=float, default=1000.0, help="events/s, part 2")
    parser.add_argument("--sustained-seconds", type=float, default=60.0)
    parser.add_argument("--burst-subscriptions", type=int, default=20_000, help="part 3")
    parser.add_argument(
        "--deadline",
        type=float,
        default=3600.0,
        help="seconds a part waits at most for its backlog to drain (and the burst to be sent)",
    )
    args = parser.parse_args()
    # Imported here, not above: the generator processes are spawned, and
    # import this module again; they need none of this (SQLAlchemy's ORM,
    # the emulator's app, the stripe library) and start faster without it.
    from bench._ack_throughput import AckLoad, measure_acknowledgement, measure_bare
    from bench._provenance import code_under_test
    from bench._renewal_burst import BurstLoad, measure_burst
    from bench._sustained_load import SteadyLoad, measure_sustained

    url = f"sqlite:///{args.sqlite}" if args.sqlite else args.database_url

    print(code_under_test())
    print(f"database {url}, {args.clients} keep-alive clients")
    ack = AckLoad(args.clients, args.duration, args.subscriptions, args.load_processes)
    _heading(
        f"1. Acknowledgement throughput ({args.duration:.0f} s, {args.subscriptions} subscriptions)"
    )
    bare = measure_bare(ack)
    print(f"bare endpoint: {bare.cpu.line()}")
    intake, headlines = measure_acknowledgement(url, ack, args.deadline)
    summaries: list[Summary] = [bare.summary, intake.summary]
    overview = [ratio_line(intake.summary, bare.summary), *headlines]

    if not args.skip_sustained:
        _heading(
            f"2. Sustained load ({args.sustained_rate:.0f} events/s for "
            f"{args.sustained_seconds:.0f} s, open loop)"
        )
        steady = SteadyLoad(
            args.sustained_rate,
            args.sustained_seconds,
            args.clients,
            args.subscriptions,
            args.load_processes,
        )
        sustained, headlines = measure_sustained(url, steady, args.deadline)
        summaries.append(sustained.summary)
        overview += headlines
    if not args.skip_burst:
        n = args.burst_subscriptions
        _heading(f"3. Renewal-day burst ({n} subscriptions, {n * 5} events + 10% twice)")
        burst_load = BurstLoad(n, args.clients, args.load_processes)
        burst, headlines = measure_burst(url, burst_load, args.deadline)
        summaries.append(burst.summary)
        overview += headlines

    _heading("Overview (latency: sustained from each request's due time; others from sending)")
    print(table(summaries, unit="events/s"))
    for line in overview:
        print(line)


def _heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


if __name__ == "__main__":
    main()
