"""The subscription report as text, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from billing_server.domain.subscription_report import SubscriptionReport

# Currencies Stripe counts in whole units (no cents).
ZERO_DECIMAL = frozenset(
    ("bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
     "xaf", "xof", "xpf")
)  # fmt: skip


def money(currency: str, minor: int) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return f"{currency} {minor:,}"
    return f"{currency} {minor / 100:,.2f}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _by_plan(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    detail = ", ".join(f"{plan} {n:,}" for plan, n in sorted(counts.items()))
    return f"{total:,}" + (f"  ({detail})" if detail else "")


def text(report: SubscriptionReport) -> str:
    lines = [
        f"Subscription report, {_when(report.since)} to {_when(report.until)}",
        "",
        "Active subscriptions (now), by plan and status:",
    ]
    for (plan, status), count in report.active.items():
        lines.append(f"  {plan:<16} {status:<20} {count:>8,}")
    lines.append(f"  {'total':<37} {sum(report.active.values()):>8,}")
    mrr = ", ".join(money(c, m) for c, m in report.mrr.items()) or "0"
    lines += [
        "",
        f"{'New subscriptions':<26}{_by_plan(report.new)}",
        f"{'Cancellations (churn)':<26}{_by_plan(report.churned)}",
        f"{'Upgrades':<26}{report.upgrades:,}",
        f"{'Downgrades':<26}{report.downgrades:,}",
        f"{'Failed payments':<26}{report.failed_payments:,}",
        f"{'Recovered payments':<26}{report.recovered_payments:,}",
        f"{'MRR (catalogue prices)':<26}{mrr}",
    ]
    if report.unpriced:
        lines.append(f"  not in the MRR: {report.unpriced} on plans without a catalogue price")
    lines += [f"Note: {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def as_dict(report: SubscriptionReport) -> dict[str, Any]:
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "active": [
            {"plan": plan, "status": status, "count": count}
            for (plan, status), count in report.active.items()
        ],
        "new": dict(sorted(report.new.items())),
        "churned": dict(sorted(report.churned.items())),
        "upgrades": report.upgrades,
        "downgrades": report.downgrades,
        "failed_payments": report.failed_payments,
        "recovered_payments": report.recovered_payments,
        # In each currency's minor unit (cents), per month.
        "mrr": dict(report.mrr),
        "unpriced_subscriptions": report.unpriced,
        "notes": list(report.notes),
    }


def json_text(report: SubscriptionReport) -> str:
    return json.dumps(as_dict(report), indent=2) + "\n"


def csv_text(report: SubscriptionReport) -> str:
    """One figure a row: metric, plan, status, currency, value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "plan", "status", "currency", "value"])
    for (plan, status), count in report.active.items():
        writer.writerow(["active", plan, status, "", count])
    for plan, count in sorted(report.new.items()):
        writer.writerow(["new", plan, "", "", count])
    for plan, count in sorted(report.churned.items()):
        writer.writerow(["churned", plan, "", "", count])
    for metric in ("upgrades", "downgrades", "failed_payments", "recovered_payments"):
        writer.writerow([metric, "", "", "", getattr(report, metric)])
    for currency, minor in report.mrr.items():
        writer.writerow(["mrr", "", "", currency, minor])
    return out.getvalue()
