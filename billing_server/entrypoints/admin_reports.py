"""`billing-admin report` and `billing-admin account show`: the weekly
subscription figures, and one account as support needs to see it. Both read
our own tables only, never Stripe."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TextIO

from billing_server.bootstrap import bootstrap
from billing_server.config import Settings
from billing_server.entrypoints import report_output, support_output
from billing_server.service_layer.reporting import subscription_report
from billing_server.service_layer.support import account_overview

OK, FAILED = 0, 1
FORMATS = {
    "text": report_output.text,
    "json": report_output.json_text,
    "csv": report_output.csv_text,
}


def add_commands(commands: Any, duration: Callable[[str], timedelta]) -> None:
    report = commands.add_parser(
        "report", help="subscriptions, churn, plan changes, payments and MRR over a window"
    )
    report.add_argument(
        "--since", type=duration, default=timedelta(days=7), help="the window, e.g. 7d (default)"
    )
    report.add_argument("--format", choices=sorted(FORMATS), default="text")
    report.set_defaults(run=_report)

    account = commands.add_parser("account", help="one account, for support")
    account_commands = account.add_subparsers(dest="account_command", required=True)
    show = account_commands.add_parser(
        "show", help="customer, subscriptions, CheckPlan answers, grace, events, audit trail"
    )
    show.add_argument("account_id")
    show.add_argument(
        "--show-personal", action="store_true", help="show customer ids and keys unmasked"
    )
    show.add_argument("--limit", type=int, default=20, help="latest events and audit entries")
    show.set_defaults(run=_account_show)


class ProgressLine:
    """A progress line on stderr, once a run has taken `after_s`: short runs
    print nothing, long ones say how far they are, at most once a second."""

    def __init__(
        self,
        stream: TextIO = sys.stderr,
        clock: Callable[[], float] = time.monotonic,
        after_s: float = 1.0,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._after_s = after_s
        self._shown_at: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if now - self._started < self._after_s:
            return
        if self._shown_at is not None and now - self._shown_at < 1.0 and done < total:
            return
        self._shown_at = now
        self._stream.write(f"\rreport: read {done:,} of {total:,} stored events")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()


def _report(settings: Settings, args: argparse.Namespace) -> int:
    app = bootstrap(settings)
    try:
        until = app.deps.clock()
        report = subscription_report(
            app.report_queries(),
            app.deps.catalog,
            until - args.since,
            until,
            event_retention=timedelta(days=settings.event_retention_days),
            progress=ProgressLine(),
        )
    finally:
        app.close()
    sys.stdout.write(FORMATS[args.format](report))
    return OK


def _account_show(settings: Settings, args: argparse.Namespace) -> int:
    app = bootstrap(settings)
    try:
        overview = account_overview(app.deps, app.support_queries(), args.account_id, args.limit)
        now = app.deps.clock()
    finally:
        app.close()
    if not overview.known:
        print(f"no account {args.account_id} (no row, subscription or event)")
        return FAILED
    sys.stdout.write(support_output.text(overview, now, show_personal=args.show_personal))
    return OK
