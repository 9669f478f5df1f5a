"""`billing-admin events ...`: the webhook inbox, for operators.

`list` and `show` read it; `retry` and `replay` make events due and apply
them in this process (the server's applier may take some of them first:
the report says where each stands afterwards, whoever applied it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from billing_server.bootstrap import bootstrap
from billing_server.config import Settings
from billing_server.domain.stored_events import PENDING_STATUSES, STATUSES, EventStatus, StoredEvent
from billing_server.service_layer.event_recovery import (
    ApplyReport,
    apply_in_process,
    list_events,
    replay_missed_events,
    retry_events,
    show_event,
)

OK, FAILED = 0, 1
Duration = Callable[[str], timedelta]


def add_commands(commands: Any, duration: Duration) -> None:
    events = commands.add_parser("events", help="the webhook inbox")
    event_commands = events.add_subparsers(dest="events_command", required=True)

    listing = event_commands.add_parser("list", help="list stored events by status")
    listing.add_argument(
        "--status",
        type=_statuses,
        default=PENDING_STATUSES,
        help=f"comma-separated, of {', '.join(STATUSES)} (default: the pending ones)",
    )
    listing.add_argument("--limit", type=int, default=50, help="at most this many, oldest first")
    listing.set_defaults(run=_list)

    show = event_commands.add_parser("show", help="one event: status, reason, error, payload")
    show.add_argument("event_id")
    show.set_defaults(run=_show)

    retry = event_commands.add_parser(
        "retry", help="apply stored events again now, whatever their backoff or status"
    )
    retry.add_argument(
        "--status",
        type=_statuses,
        default=("failed", "deferred"),
        help=f"comma-separated, of {', '.join(STATUSES)} (default: failed,deferred)",
    )
    retry.add_argument("--id", action="append", default=[], help="just this event (repeatable)")
    retry.add_argument("--limit", type=int, default=1000, help="at most this many events")
    retry.set_defaults(run=_retry)

    replay = event_commands.add_parser(
        "replay", help="store and apply events from Stripe's Events API that were never delivered"
    )
    replay.add_argument(
        "--since", type=duration, required=True, help="how far back, e.g. 72h (Stripe keeps 30d)"
    )
    replay.set_defaults(run=_replay)


def _statuses(text: str) -> tuple[EventStatus, ...]:
    picked = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in picked if s not in STATUSES]
    if unknown or not picked:
        raise argparse.ArgumentTypeError(f"statuses are {', '.join(STATUSES)}; got {text!r}")
    return tuple(s for s in STATUSES if s in picked)


def _list(settings: Settings, args: argparse.Namespace) -> int:
    app = bootstrap(settings)
    try:
        events = list_events(app.deps, args.status, args.limit)
        now = app.deps.clock()
    finally:
        app.close()
    for event in events:
        print(_line(event, now))
    print(f"{len(events)} event(s) {'/'.join(args.status)}")
    return OK


def _show(settings: Settings, args: argparse.Namespace) -> int:
    app = bootstrap(settings)
    try:
        event = show_event(app.deps, args.event_id)
    finally:
        app.close()
    if event is None:
        print(f"no stored event {args.event_id}")
        return FAILED
    for name, value in (
        ("id", event.id),
        ("type", event.type),
        ("status", event.status),
        ("outcome", event.outcome),
        ("reason", event.reason),
        ("attempts", event.attempts),
        ("subscription", event.subject_id),
        ("customer", event.customer_id),
        ("api version", event.api_version),
        ("created", _when(event.created)),
        ("received", _when(event.received_at)),
        ("finished", _when(event.processed_at)),
        ("next attempt", _when(event.next_attempt_at)),
        ("last error", event.last_error),
    ):
        print(f"{name + ':':14}{'-' if value is None else value}")
    print(f"{'payload:':14}{event.payload}")
    return OK


def _retry(settings: Settings, args: argparse.Namespace) -> int:
    app = bootstrap(settings)
    try:
        ids = retry_events(app.deps, args.status, args.id, args.limit)
        report = apply_in_process(app.deps, ids, limit=max(len(ids), 1) * 2)
    finally:
        app.close()
    print(f"retried {len(ids)}: {_outcome(report)}")
    return FAILED if report.count("failed") else OK


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    app = bootstrap(settings)
    try:
        since = app.deps.clock() - args.since
        print(f"listing Stripe events since {since.isoformat(timespec='seconds')} ...", flush=True)
        replayed = replay_missed_events(app.deps, since)
        report = apply_in_process(app.deps, replayed.stored, limit=len(replayed.stored) * 2)
    finally:
        app.close()
    print(
        f"listed {replayed.listed}, already stored {replayed.already_stored}, "
        f"stored {len(replayed.stored)}: {_outcome(report)}"
        + (f"; {replayed.unreadable} unreadable" if replayed.unreadable else "")
    )
    return FAILED if report.count("failed") or replayed.unreadable else OK


def _outcome(report: ApplyReport) -> str:
    return (
        f"applied {report.count('processed')}, "
        f"still waiting for their account {report.count('deferred')}, "
        f"rejected {report.count('rejected')}, failed {report.count('failed')}, "
        f"pending {report.count('received')}"
    )


def _line(event: StoredEvent, now: datetime) -> str:
    age = now - event.received_at
    why = event.reason or event.outcome or ""
    return (
        f"{event.id}  {event.type:32} {event.status:9} {why:26} "
        f"attempts {event.attempts:<3} {_age(age):>6} ago  {event.subject_id or '-'}"
    )


def _age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _when(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None
