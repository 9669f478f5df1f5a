"""Part 3 of webhook_intake: a renewal day's burst, against a Stripe emulator that knows the truth.

S subscriptions' five events each (bench._renewal_day), shuffled, a tenth
of them delivered twice, sent as fast as they are accepted by N clients.
billing-server talks to an in-process Stripe emulator seeded with every
subscription's final state, at its default pace (PAYMENTSVC_STRIPE_RATE).
Then: how long accepting and draining took, the peak backlog, whether every
second delivery was answered "duplicate", how the events ended, how many
Stripe GETs it took, and whether every subscription holds the emulator's
state.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import stripe

from bench._hmac_endpoint import PATH
from bench._http_load import HttpLoad, HttpRun, run_http_load
from bench._inbox import BacklogWatch, RecordedSubscription, events_of, subscriptions_of
from bench._inbox_checks import by_outcome, lost_line, retries_line
from bench._pg_activity import PgActivity, settle
from bench._renewal_day import PLANS, RenewalDay, RenewalDeliveries, delivery_order
from bench._webhook_stack import webhook_stack
from billing_server.adapters.stripe_objects import subscription_snapshot
from stripe_emulator.state import EmulatorState
from stripe_emulator.testing import run_emulator
from stripe_emulator.views import render

SUBSCRIPTION_GET = "GET /v1/subscriptions/{id}"


@dataclass(frozen=True)
class BurstLoad:
    subscriptions: int
    clients: int
    load_processes: int


def measure_burst(url: str, load: BurstLoad, deadline_s: float) -> tuple[HttpRun, list[str]]:
    """Prints its figures; returns the run and its headline."""
    day = RenewalDay(
        uuid.uuid4().hex[:8], load.subscriptions, int(time.time()) - 7200, stripe.api_version
    )
    state = EmulatorState()
    day.seed(state.store)
    with run_emulator(state=state) as emulator, webhook_stack(url, emulator.url) as stack:
        before = PgActivity.read(url)
        with BacklogWatch(url) as backlog:
            run = run_http_load(
                "renewal burst (closed)",
                _loads(load, stack.gateway_port, day, deadline_s),
                stack.watch(),
            )
            drain_s = backlog.drained(deadline_s)
        requests = state.counters.snapshot()
        settle()
        after = PgActivity.read(url)
        differing = _differing(day, state, subscriptions_of(url, day.subscription_id_prefix))
    rows = events_of(url, day.event_id_prefix)
    order = delivery_order(day)
    print(f"burst: {run.cpu.line()}")
    print(f"burst: {run.sent} deliveries of {day.events} events sent, answers {run.statuses}")
    accepted = f"{len(run.ok_indices)} of {len(order)} deliveries accepted in {run.elapsed_s:.1f} s"
    if drain_s is None:
        drained = f"not drained within {deadline_s:.0f} s (last count {backlog.last} pending)"
    else:
        drained = f"drained {drain_s:.1f} s later ({run.elapsed_s + drain_s:.1f} s from the first)"
    timing = f"{accepted}, {drained}; peak backlog {backlog.peak} pending"
    gets = int(requests["by_route"].get(SUBSCRIPTION_GET, 0))
    requests_line = (
        f"Stripe requests served by the emulator: {requests['total']} {requests['by_route']}; "
        f"subscription GETs per subscription: {gets / day.subscriptions:.2f}"
    )
    truth = (
        f"subscriptions whose recorded state differs from the emulator's: {differing} "
        f"of {day.subscriptions}"
    )
    answered = {day.event_id(order[i]) for i in run.ok_indices}
    print(timing)
    print(_duplicates_line(run, order))
    print(f"stripe_events: {len(rows)} rows {by_outcome(rows)}")
    print(lost_line(rows, answered))
    print(retries_line(rows))
    print(requests_line)
    print(truth)
    if before and after:
        print(after.since(before, len(order), "the burst and its drain", "delivery"))
    return run, [timing, requests_line, truth]


def _loads(load: BurstLoad, port: int, day: RenewalDay, deadline_s: float) -> list[HttpLoad]:
    p, total = load.load_processes, len(delivery_order(day))
    return [
        HttpLoad("127.0.0.1", port, PATH, RenewalDeliveries(day),
                 load.clients // p + (i < load.clients % p), deadline_s, warmup_s=0.0,
                 first=i, stride=p, max_requests=(total - i + p - 1) // p)
        for i in range(p)
    ]  # fmt: skip


def _duplicates_line(run: HttpRun, order: Sequence[int]) -> str:
    """Of the events delivered twice, how many got one "stored" and one "duplicate"."""
    said: dict[int, list[str]] = defaultdict(list)
    for i, outcome in zip(run.ok_indices, run.ok_outcomes, strict=True):
        said[order[i]].append(outcome)
    deliveries: dict[int, int] = defaultdict(int)
    for e in order:
        deliveries[e] += 1
    twice = [e for e, n in deliveries.items() if n == 2]
    right = sum(1 for e in twice if sorted(said[e]) == ["duplicate", "stored"])
    stray = sum(said[e].count("duplicate") for e, n in deliveries.items() if n == 1)
    total = sum(outcomes.count("duplicate") for outcomes in said.values())
    return (
        f"duplicates: {len(twice)} events delivered twice, {right} answered stored + duplicate; "
        f"{total} answers said duplicate ({stray} for events delivered once)"
    )


def _differing(
    day: RenewalDay, state: EmulatorState, recorded: dict[str, RecordedSubscription]
) -> int:
    """Subscriptions whose recorded state is not what the emulator holds."""
    plans = {lookup_key: plan for plan, (lookup_key, _) in PLANS.items()}
    wrong = 0
    with state.store.lock:
        for n in range(day.subscriptions):
            stored = state.store.require("subscription", day.subscription_id(n))
            truth = subscription_snapshot(render(state.store, stored))
            got = recorded.get(truth.id)
            if got is None or (
                got.status,
                got.plan,
                got.price_id,
                got.cancel_at_period_end,
                got.current_period_start,
                got.current_period_end,
            ) != (
                truth.status.value,
                plans.get(truth.price_lookup_key or ""),
                truth.price_id,
                truth.cancel_at_period_end,
                truth.current_period_start,
                truth.current_period_end,
            ):
                wrong += 1
    return wrong
