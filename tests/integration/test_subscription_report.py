"""`billing-admin report` against a seeded database with known answers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import AccountRow, StripeEventRow, SubscriptionRow
from billing_server.entrypoints.admin import admin_main
from tests import stripe_payloads
from tests.conftest import fresh_database

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
CATALOG = """
[[plans]]
name = "free"
display_name = "Free"
rank = 0
features = ["projects"]

[[plans]]
name = "legacy"
display_name = "Legacy"
rank = 5
features = ["projects"]
price_lookup_key = "legacy_monthly"
price = { unit_amount = 500, currency = "eur", interval = "month" }

[[plans]]
name = "pro"
display_name = "Pro"
rank = 10
features = ["projects", "exports"]
price_lookup_key = "pro_monthly"
price = { unit_amount = 2000, currency = "usd", interval = "month" }

[[plans]]
name = "team"
display_name = "Team"
rank = 20
features = ["projects", "exports", "sso"]
price_lookup_key = "team_yearly"
price = { unit_amount = 120000, currency = "usd", interval = "year" }
"""
KEYS = {"pro": "pro_monthly", "team": "team_yearly", "legacy": "legacy_monthly"}


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def subscription(
    sub_id: str, plan: str, status: str, created_days_ago: float, ended_days_ago: float | None
) -> SubscriptionRow:
    return SubscriptionRow(
        stripe_subscription_id=sub_id,
        account_id="acct_report",
        stripe_customer_id="cus_report",
        plan=plan,
        stripe_price_id=f"price_{plan}",
        stripe_item_id=f"si_{sub_id}",
        status=status,
        cancel_at_period_end=False,
        ended_at=ago(ended_days_ago) if ended_days_ago is not None else None,
        stripe_created_at=ago(created_days_ago),
        stripe_state_at=NOW,
        updated_at=NOW,
    )


def stored(event_type: str, obj: dict[str, Any], days_ago: float, subject: str) -> StripeEventRow:
    payload = json.loads(stripe_payloads.event(event_type, obj, ago(days_ago)))
    return StripeEventRow(
        event_id=payload["id"],
        type=event_type,
        created_at=ago(days_ago),
        api_version=payload["api_version"],
        payload=json.dumps(payload),
        status="processed",
        outcome="applied",
        attempts=1,
        subject_id=subject,
        customer_id="cus_report",
        received_at=ago(days_ago),
        processed_at=ago(days_ago),
    )


def on_plan(
    sub_id: str, plan: str, days_ago: float, api_version: str | None = None
) -> StripeEventRow:
    obj = stripe_payloads.subscription(
        sub_id, "cus_report", lookup_key=KEYS[plan], period_start=ago(days_ago)
    )
    row = stored("customer.subscription.updated", obj, days_ago, sub_id)
    if api_version is not None:
        payload = json.loads(row.payload)
        payload["api_version"] = row.api_version = api_version
        row.payload = json.dumps(payload)
    return row


def payment(sub_id: str, succeeded: bool, days_ago: float) -> StripeEventRow:
    kind = "invoice.payment_succeeded" if succeeded else "invoice.payment_failed"
    return stored(kind, stripe_payloads.invoice(sub_id, "cus_report"), days_ago, sub_id)


def seed(session: Session) -> None:
    session.add(AccountRow(account_id="acct_report", created_at=ago(200), state_version=1))
    session.flush()
    session.add_all(
        [
            subscription("sub_s1", "pro", "active", 30, None),
            subscription("sub_s2", "pro", "active", 2, None),  # new
            subscription("sub_s3", "team", "active", 3, None),  # new
            subscription("sub_s4", "team", "trialing", 1, None),  # new, not billing yet
            subscription("sub_s5", "pro", "past_due", 40, None),
            subscription("sub_s6", "pro", "canceled", 60, 2),  # churned this week
            subscription("sub_s7", "team", "canceled", 90, 20),  # churned before
            subscription("sub_s8", "legacy", "active", 100, None),
            subscription("sub_s9", "ghost", "active", 100, None),  # not in the catalogue
        ]
    )
    session.add_all(
        [
            # sub_s1 upgrades this week; sub_s3 downgrades; sub_s2 only starts.
            on_plan("sub_s1", "pro", 10),
            on_plan("sub_s1", "team", 3),
            on_plan("sub_s3", "team", 3),
            on_plan("sub_s3", "pro", 1),
            on_plan("sub_s2", "pro", 2),
            # A change before the window.
            on_plan("sub_s7", "pro", 20),
            on_plan("sub_s7", "team", 15),
            # Another API version's payload is not read by its shape.
            on_plan("sub_s8", "pro", 5),
            on_plan("sub_s8", "team", 4, api_version="2020-08-27"),
            # sub_s5 failed before the window and recovers in it; sub_s1 fails
            # twice and recovers; sub_s2's first payment is no recovery;
            # sub_s3 fails.
            payment("sub_s5", False, 9),
            payment("sub_s5", True, 2),
            payment("sub_s5", True, 1),  # the next payment: no second recovery
            payment("sub_s1", False, 3),
            payment("sub_s1", False, 2),
            payment("sub_s1", True, 1),
            payment("sub_s2", True, 2),
            payment("sub_s3", False, 1),
        ]
    )
    session.commit()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with fresh_database(tmp_path_factory) as url:
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                seed(session)
        finally:
            engine.dispose()
        plans = tmp_path_factory.mktemp("catalog") / "plans.toml"
        plans.write_text(CATALOG)
        yield {"SQLALCHEMY_DATABASE_URI": url, "PAYMENTSVC_PLANS_FILE": str(plans)}


def report(
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> str:
    for name, value in seeded.items():
        monkeypatch.setenv(name, value)
    assert admin_main(["report", *args]) == 0
    return capsys.readouterr().out


def test_the_json_report_has_the_known_answers(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = json.loads(report(seeded, monkeypatch, capsys, "--since", "7d", "--format", "json"))

    assert figures["active"] == [
        {"plan": "ghost", "status": "active", "count": 1},
        {"plan": "legacy", "status": "active", "count": 1},
        {"plan": "pro", "status": "active", "count": 2},
        {"plan": "pro", "status": "past_due", "count": 1},
        {"plan": "team", "status": "active", "count": 1},
        {"plan": "team", "status": "trialing", "count": 1},
    ]
    assert figures["new"] == {"pro": 1, "team": 2}
    assert figures["churned"] == {"pro": 1}
    assert (figures["upgrades"], figures["downgrades"]) == (1, 1)
    assert (figures["failed_payments"], figures["recovered_payments"]) == (3, 2)
    # pro 2000 x 3 (two active, one past due) + team 120000 / 12; legacy in eur.
    assert figures["mrr"] == {"eur": 500, "usd": 16000}
    assert figures["unpriced_subscriptions"] == 1
    assert figures["notes"] == []


def test_a_longer_window_counts_more_and_says_what_retention_cut(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = json.loads(report(seeded, monkeypatch, capsys, "--since", "45d", "--format", "json"))

    assert figures["new"] == {"pro": 3, "team": 2}
    assert figures["churned"] == {"pro": 1, "team": 1}
    assert (figures["upgrades"], figures["downgrades"]) == (2, 1)
    assert (figures["failed_payments"], figures["recovered_payments"]) == (4, 2)
    assert figures["notes"] == [
        "stored events are kept 30 days: plan changes and payments cover the last 30 days only"
    ]


def test_the_text_report_reads_as_a_summary(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = report(seeded, monkeypatch, capsys).splitlines()

    assert lines[0].startswith("Subscription report, ")
    assert "New subscriptions         3  (pro 1, team 2)" in lines
    assert "Cancellations (churn)     1  (pro 1)" in lines
    assert "Recovered payments        2" in lines
    assert "MRR (catalogue prices)    eur 5.00, usd 160.00" in lines


def test_the_csv_report_has_one_figure_a_row(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = list(csv.DictReader(io.StringIO(report(seeded, monkeypatch, capsys, "--format", "csv"))))

    figures = {(r["metric"], r["plan"], r["status"], r["currency"]): r["value"] for r in rows}
    assert figures[("active", "pro", "past_due", "")] == "1"
    assert figures[("new", "team", "", "")] == "2"
    assert figures[("downgrades", "", "", "")] == "1"
    assert figures[("mrr", "", "", "usd")] == "16000"


def test_a_bad_window_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        admin_main(["report", "--since", "a week"])
    assert exited.value.code == 2
    assert "not a duration" in capsys.readouterr().err
