"""Part 1 of webhook_intake: how fast deliveries are acknowledged, against the bare endpoint.

N keep-alive clients post signed `customer.subscription.updated` events
(bench._webhook_events.SignedEvents: distinct ids, `created` growing per
subscription, so no Stripe fetch is needed) for the duration, first to the
bare Starlette HMAC endpoint, then to webhook-gateway in front of
billing-server with its applier running. Then, once the backlog has
drained: no event answered 200 may be left unprocessed, each must have been
applied in one attempt, and every subscription must hold what its newest
stored event says (which shows that order was kept).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from bench._hmac_endpoint import PATH
from bench._http_load import HttpLoad, HttpRun, run_http_load
from bench._inbox import BacklogWatch, EventRow, events_of, subscriptions_of
from bench._inbox_checks import by_outcome, lost_line, retries_line
from bench._pg_activity import PgActivity, settle
from bench._processes import Process, free_port, wait_until
from bench._webhook_events import SignedEvents, event_id, event_index
from bench._webhook_stack import listening, webhook_stack


@dataclass(frozen=True)
class AckLoad:
    clients: int
    duration_s: float
    subscriptions: int
    load_processes: int


def measure_bare(load: AckLoad) -> HttpRun:
    port = free_port()
    with Process.module("hmac-endpoint", "bench._hmac_endpoint", "--port", str(port)) as process:
        wait_until(lambda: process.running() and listening(port), 20, "bare endpoint")
        loads = _loads(load, port, _events(load, "bare"))
        return run_http_load("bare Starlette HMAC", loads, {process.pid: "bare endpoint"})


def measure_acknowledgement(
    url: str, load: AckLoad, deadline_s: float
) -> tuple[HttpRun, list[str]]:
    """The end-to-end run; prints its checks, returns the run and its headline."""
    events = _events(load, uuid.uuid4().hex[:8])
    with webhook_stack(url) as stack:
        before = PgActivity.read(url)
        with BacklogWatch(url) as backlog:
            run = run_http_load(
                "webhook intake (e2e)", _loads(load, stack.gateway_port, events), stack.watch()
            )
            drain_s = backlog.drained(deadline_s)
        settle()
        after = PgActivity.read(url)
    rows = events_of(url, events.event_id_prefix)
    print(f"intake: {run.cpu.line()}")
    print(f"intake: {run.sent} sent, answers {run.statuses}, 200s said {_said(run)}")
    drained = f"{drain_s:.1f} s" if drain_s is not None else f"not within {deadline_s:.0f} s"
    print(f"backlog: peak {backlog.peak} pending; drained {drained} after the load stopped")
    if before and after:
        print(after.since(before, run.sent, "the intake run and its drain", "event"))
    answered = {event_id(events.run_tag, i) for i in run.ok_indices}
    lost = lost_line(rows, answered)
    order = _order_line(url, events, rows)
    print(f"stripe_events: {len(rows)} rows {by_outcome(rows)}")
    print(lost)
    print(retries_line(rows))
    print(order)
    return run, [lost, order]


def _events(load: AckLoad, run_tag: str) -> SignedEvents:
    # Thirty days back leaves room for one `created` second per event.
    return SignedEvents(run_tag, load.subscriptions, int(time.time()) - 30 * 86400)


def _loads(load: AckLoad, port: int, events: SignedEvents) -> list[HttpLoad]:
    p = load.load_processes
    return [
        HttpLoad("127.0.0.1", port, PATH, events, load.clients // p + (i < load.clients % p),
                 load.duration_s, first=i, stride=p)
        for i in range(p)
    ]  # fmt: skip


def _said(run: HttpRun) -> dict[str, int]:
    said: dict[str, int] = {}
    for outcome in run.ok_outcomes:
        said[outcome or "?"] = said.get(outcome or "?", 0) + 1
    return said


def _order_line(url: str, events: SignedEvents, rows: Sequence[EventRow]) -> str:
    """Subscriptions whose recorded state is not their newest stored event's."""
    newest: dict[str, int] = {}
    for row in rows:
        i = event_index(row.event_id)
        sub = events.state(i).subscription_id
        newest[sub] = max(newest.get(sub, -1), i)
    recorded = subscriptions_of(url, events.subscription_id_prefix)
    wrong = 0
    for sub, i in newest.items():
        want, got = events.state(i), recorded.get(sub)
        end = got.current_period_end if got else None
        if (
            got is None
            or got.status != want.status
            or got.cancel_at_period_end != want.cancel_at_period_end
            or end is None
            or int(end.timestamp()) != want.current_period_end
        ):
            wrong += 1
    return (
        f"order kept: {len(newest) - wrong} of {len(newest)} subscriptions hold their newest "
        f"event's status/cancel_at_period_end/current_period_end; differing: {wrong}"
    )
