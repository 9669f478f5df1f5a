"""Billing period arithmetic in UTC, anchored as Stripe anchors it.

Periods are computed from the billing cycle anchor rather than from the
previous period end, so a subscription anchored on Jan 31 renews on Feb 28
and then on Mar 31 (not Mar 28), as Stripe does.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

INTERVALS = ("day", "week", "month", "year")


def add_intervals(anchor: int, interval: str, count: int) -> int:
    start = datetime.fromtimestamp(anchor, tz=UTC)
    if interval == "day":
        return anchor + count * 86_400
    if interval == "week":
        return anchor + count * 7 * 86_400
    months = count * (12 if interval == "year" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    moved = start.replace(year=year, month=month, day=day)
    return int(moved.timestamp())


def period(anchor: int, interval: str, interval_count: int, cycle: int) -> tuple[int, int]:
    """The `cycle`-th period (0 = the first) of a cycle anchored at `anchor`."""
    start = add_intervals(anchor, interval, interval_count * cycle)
    end = add_intervals(anchor, interval, interval_count * (cycle + 1))
    return start, end


def days(count: int) -> int:
    return int(timedelta(days=count).total_seconds())
