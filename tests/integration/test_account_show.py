"""`billing-admin account show` against a seeded account: what support sees,
with personal data masked unless --show-personal is given."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import AccountRow, AuditLogRow, StripeEventRow, SubscriptionRow
from billing_server.entrypoints.admin import admin_main

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
CUSTOMER = f"cus_Support{uuid.uuid4().hex[:8]}4242"
OLD_CUSTOMER = f"cus_Earlier{uuid.uuid4().hex[:8]}7777"
KEY = "order-jane.doe@example.org"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def subscription(account_id: str, sub_id: str, customer: str, **fields: object) -> SubscriptionRow:
    values: dict[str, object] = {
        "plan": "pro",
        "stripe_price_id": "price_pro",
        "stripe_item_id": f"si_{sub_id}",
        "cancel_at_period_end": False,
        "stripe_state_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return SubscriptionRow(
        stripe_subscription_id=sub_id, account_id=account_id, stripe_customer_id=customer, **values
    )


def event(event_id: str, event_type: str, days_ago: float, **fields: object) -> StripeEventRow:
    return StripeEventRow(
        event_id=event_id,
        type=event_type,
        created_at=ago(days_ago),
        payload="{}",
        attempts=1,
        received_at=ago(days_ago),
        **fields,
    )


@pytest.fixture(scope="module")
def seeded(database_url: str) -> dict[str, str]:
    account_id = f"acct_{uuid.uuid4().hex[:12]}"
    ids = {name: f"{name}_{uuid.uuid4().hex[:12]}" for name in ("sub_old", "sub_now")}
    ids |= {name: f"evt_{uuid.uuid4().hex[:16]}" for name in ("failed", "rejected", "other")}
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            session.add(
                AccountRow(
                    account_id=account_id,
                    stripe_customer_id=CUSTOMER,
                    state_version=4,
                    state_updated_at=ago(2),
                    created_at=ago(200),
                )
            )
            session.flush()
            session.add_all(
                [
                    subscription(
                        account_id,
                        ids["sub_old"],
                        OLD_CUSTOMER,
                        status="canceled",
                        stripe_created_at=ago(120),
                        cancel_at=ago(61),
                        ended_at=ago(60),
                    ),
                    # Past due since two days: in its 7-day grace period.
                    subscription(
                        account_id,
                        ids["sub_now"],
                        CUSTOMER,
                        status="past_due",
                        stripe_created_at=ago(40),
                        current_period_start=ago(2),
                        current_period_end=ago(-28),
                        past_due_since=ago(2),
                    ),
                    event(
                        ids["failed"],
                        "invoice.payment_failed",
                        2,
                        status="processed",
                        outcome="applied",
                        subject_id=ids["sub_now"],
                        customer_id=CUSTOMER,
                    ),
                    event(
                        ids["rejected"],
                        "checkout.session.completed",
                        1,
                        status="rejected",
                        reason="CUSTOMER_LINKED_ELSEWHERE",
                        account_hint=account_id,
                        last_error=f"customer {CUSTOMER} belongs to another account",
                    ),
                    # Another account's event.
                    event(
                        ids["other"],
                        "invoice.payment_failed",
                        1,
                        status="processed",
                        customer_id="cus_SomeoneElse",
                    ),
                    AuditLogRow(
                        occurred_at=ago(3),
                        actor="orders",
                        action="ChangePlan",
                        account_id=account_id,
                        outcome="ok",
                        idempotency_key=KEY,
                        detail=json.dumps({"from_plan": "enterprise", "to_plan": "pro"}),
                    ),
                ]
            )
            session.commit()
    finally:
        engine.dispose()
    return {"account_id": account_id, "url": database_url, **ids}


def show(
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> str:
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", seeded["url"])
    assert admin_main(["account", "show", seeded["account_id"], *args]) == 0
    return capsys.readouterr().out


def test_support_sees_why_the_account_can_or_cannot_use_each_plan_and_feature(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = show(seeded, monkeypatch, capsys)
    lines = [line.split() for line in out.splitlines()]

    assert out.startswith(f"Account {seeded['account_id']}\n")
    # The subscription history, oldest first.
    assert out.index(seeded["sub_old"]) < out.index(seeded["sub_now"])
    assert f"cancels at: {ago(61):%Y-%m-%d %H:%M:%S}  ended: {ago(60):%Y-%m-%d %H:%M:%S}" in out
    assert [seeded["sub_now"], "pro", "past_due"] == next(
        line[:3] for line in lines if line and line[0] == seeded["sub_now"]
    )
    answers = {(line[0], line[1]): line[2] for line in lines if line[:1] in (["plan"], ["feature"])}
    assert answers[("plan", "pro")] == "allowed"
    assert answers[("plan", "enterprise")] == "DENIED"
    assert answers[("feature", "sso")] == "DENIED"
    assert answers[("feature", "exports")] == "allowed"
    assert "PLAN_TOO_LOW" in out
    assert "FEATURE_NOT_INCLUDED" in out
    grace_until = (NOW + timedelta(days=5)).strftime("%Y-%m-%d")
    assert f"Grace: in grace: past due since {ago(2):%Y-%m-%d}" in out
    assert f"grace until {grace_until}" in out
    # The account's events with their outcomes, not another account's.
    assert seeded["failed"] in out
    assert seeded["rejected"] in out
    assert "CUSTOMER_LINKED_ELSEWHERE" in out
    assert seeded["other"] not in out
    assert "ChangePlan" in out
    assert '"from_plan": "enterprise"' in out


def test_personal_data_is_masked_by_default(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = show(seeded, monkeypatch, capsys)

    for personal in (CUSTOMER, OLD_CUSTOMER, KEY, "jane.doe@example.org"):
        assert personal not in out
    assert f"Stripe customer   cus_…{CUSTOMER[-4:]}" in out
    assert f"cus_…{OLD_CUSTOMER[-4:]}" in out
    assert "[key]" in out
    assert "Personal data is masked; --show-personal shows it." in out


def test_show_personal_shows_it(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = show(seeded, monkeypatch, capsys, "--show-personal")

    assert f"Stripe customer   {CUSTOMER}" in out
    assert OLD_CUSTOMER in out
    assert KEY in out
    assert f"customer {CUSTOMER} belongs to another account" in out
    assert "masked" not in out


def test_an_unknown_account_is_an_error(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", database_url)

    assert admin_main(["account", "show", f"acct_{uuid.uuid4().hex[:12]}"]) == 1
    assert "no account" in capsys.readouterr().out
