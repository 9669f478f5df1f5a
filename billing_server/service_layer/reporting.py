"""The subscription report over a window, from our own tables (never
Stripe): counts from the subscriptions table, plan changes and payments from
the stored webhook events, revenue from the catalogue's prices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from billing_server.adapters.report_queries import (
    PAYMENT_EVENTS,
    SUBSCRIPTION_EVENTS,
    ReportEvent,
    SqlReportQueries,
)
from billing_server.adapters.stripe_events import read_stored
from billing_server.domain.plans import Catalog
from billing_server.domain.subscription_report import (
    ENDED_STATUSES,
    PaymentObserved,
    PlanObserved,
    SubscriptionReport,
    payments,
    plan_changes,
    recurring_revenue,
)

# (events read, events to read): called after every batch.
Progress = Callable[[int, int], None]


def subscription_report(
    queries: SqlReportQueries,
    catalog: Catalog,
    since: datetime,
    until: datetime,
    *,
    event_retention: timedelta | None = None,
    progress: Progress | None = None,
) -> SubscriptionReport:
    counts = queries.counts_by_plan_and_status()
    mrr, unpriced = recurring_revenue(counts, catalog)
    price_plans = queries.plans_of_prices()
    types = SUBSCRIPTION_EVENTS + PAYMENT_EVENTS
    total = queries.count_events(types, until)
    plans_seen: list[PlanObserved] = []
    payments_seen: list[PaymentObserved] = []
    done = 0
    for batch in queries.events(types, until):
        for event in batch:
            if event.type in PAYMENT_EVENTS:
                if event.subject_id:
                    succeeded = event.type == "invoice.payment_succeeded"
                    payments_seen.append(
                        PaymentObserved(event.subject_id, event.created_at, succeeded)
                    )
            elif (plan := _plan_of(event, catalog, price_plans)) is not None:
                plans_seen.append(PlanObserved(_subject(event), event.created_at, plan))
        done += len(batch)
        if progress is not None:
            progress(done, total)
    upgrades, downgrades = plan_changes(plans_seen, catalog, since)
    failed, recovered = payments(payments_seen, since)
    notes: tuple[str, ...] = ()
    if event_retention is not None and until - since > event_retention:
        notes = (
            f"stored events are kept {event_retention.days} days: plan changes and payments "
            f"cover the last {event_retention.days} days only",
        )
    return SubscriptionReport(
        since=since,
        until=until,
        active={(p, s): n for p, s, n in sorted(counts) if s not in ENDED_STATUSES},
        new=queries.created_by_plan(since, until),
        churned=queries.ended_by_plan(since, until),
        upgrades=upgrades,
        downgrades=downgrades,
        failed_payments=failed,
        recovered_payments=recovered,
        mrr=mrr,
        unpriced=unpriced,
        notes=notes,
    )


def _plan_of(event: ReportEvent, catalog: Catalog, price_plans: dict[str, str]) -> str | None:
    """The plan a subscription event's payload shows (payloads of another
    API version are not read by their shape, as when applying them)."""
    state = read_stored(event.payload).state
    if state is None:
        return None
    plan = catalog.plan_for_price(state.price_id, state.price_lookup_key)
    return plan.name if plan is not None else price_plans.get(state.price_id)


def _subject(event: ReportEvent) -> str:
    return event.subject_id or event.event_id
