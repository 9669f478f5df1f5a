"""Part 2 of webhook_intake: a steady stream of deliveries, and how soon each is applied.

An open-loop generator (bench._open_loop) sends R events a second for S
seconds over the clients' keep-alive connections, each at its due time
whatever the answers. Then, once the backlog has drained, the database
gives the lag from storing each event to applying it, and /proc the
billing-server's CPU time from the first send until the drain, per event
applied.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from bench._hmac_endpoint import PATH
from bench._inbox import BacklogWatch, events_of
from bench._inbox_checks import apply_lags, by_outcome, lag_line, lost_line, retries_line
from bench._open_loop import OpenLoad, OpenRun, run_open_loop
from bench._pg_activity import PgActivity, settle
from bench._processes import cpu_seconds
from bench._stats import percentile
from bench._webhook_events import SignedEvents, event_id
from bench._webhook_stack import webhook_stack

TARGET_P99_LAG_S = 1.0


@dataclass(frozen=True)
class SteadyLoad:
    rate: float
    seconds: float
    clients: int
    subscriptions: int
    load_processes: int


def measure_sustained(url: str, load: SteadyLoad, deadline_s: float) -> tuple[OpenRun, list[str]]:
    """Prints its figures; returns the run and its headline."""
    events = SignedEvents(uuid.uuid4().hex[:8], load.subscriptions, int(time.time()) - 30 * 86400)
    label = f"sustained {load.rate:.0f}/s (open)"
    with webhook_stack(url) as stack:
        before = PgActivity.read(url)
        server_cpu = cpu_seconds(stack.server.pid)
        with BacklogWatch(url) as backlog:
            run = run_open_loop(label, _loads(load, stack.gateway_port, events), stack.watch())
            drain_s = backlog.drained(deadline_s)
        server_cpu = cpu_seconds(stack.server.pid) - server_cpu
        settle()
        after = PgActivity.read(url)
    rows = events_of(url, events.event_id_prefix)
    lags = apply_lags(rows)
    applied = sum(1 for r in rows if r.outcome == "applied")
    processed = sum(1 for r in rows if r.status == "processed")
    non_200 = {s: n for s, n in run.statuses.items() if s != "200"}
    print(f"sustained: {run.cpu.line()}")
    print(
        f"sustained: sent {run.sent} at {run.send_rate:,.0f}/s achieved (target "
        f"{load.rate:,.0f}/s); latest send {run.worst_send_delay_s * 1e3:,.0f} ms after its "
        f"due time; answers {run.statuses}; non-200: {sum(non_200.values())} {non_200}"
    )
    drained = f"{drain_s:.1f} s" if drain_s is not None else f"not within {deadline_s:.0f} s"
    print(f"backlog: peak {backlog.peak} pending; drained {drained} after the last send")
    lag = lag_line(lags)
    p99 = percentile(lags, 99) if lags else float("nan")
    verdict = "met" if p99 <= TARGET_P99_LAG_S else "NOT met"
    lag += f" (target p99 <= {TARGET_P99_LAG_S:.0f} s: {verdict})"
    per_event = server_cpu / applied * 1e3 if applied else float("nan")
    cpu = (
        f"billing-server CPU from the first send to the drain: {server_cpu:.1f} s, "
        f"{per_event:.2f} ms per event applied ({applied} applied, {processed} processed)"
    )
    print(lag)
    print(cpu)
    if before and after:
        print(after.since(before, run.sent, "the sustained run and its drain", "event"))
    answered = {event_id(events.run_tag, i) for i in run.ok_indices}
    print(f"stripe_events: {len(rows)} rows {by_outcome(rows)}")
    print(lost_line(rows, answered))
    print(retries_line(rows))
    return run, [lag, cpu]


def _loads(load: SteadyLoad, port: int, events: SignedEvents) -> list[OpenLoad]:
    p = load.load_processes
    return [
        OpenLoad("127.0.0.1", port, PATH, events, load.clients // p + (i < load.clients % p),
                 load.rate / p, load.seconds, first=i, stride=p)
        for i in range(p)
    ]  # fmt: skip
