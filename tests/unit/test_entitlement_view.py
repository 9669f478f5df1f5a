"""CheckPlan's in-memory view: packed standings, per-account versions,
completeness and freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing_server.adapters.entitlement_view import LIVE, EntitlementView
from billing_server.adapters.standing_table import StandingTable, decode, encode
from billing_server.domain.subscriptions import AccountStanding, Standing, SubscriptionStatus

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 15, 12, 0, 0, 123456, tzinfo=UTC)


def standing(
    account_id: str,
    version: int,
    *,
    plan: str = "pro",
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    cancel: bool = False,
    past_due_since: datetime | None = None,
    cancel_at: datetime | None = None,
) -> AccountStanding:
    return AccountStanding(
        account_id,
        version,
        NOW,
        Standing(
            plan=plan,
            status=status,
            current_period_start=NOW - timedelta(days=3, microseconds=7),
            current_period_end=NOW + timedelta(days=27),
            cancel_at_period_end=cancel,
            past_due_since=past_due_since,
            created=NOW - timedelta(days=30),
            cancel_at=cancel_at,
        ),
    )


@pytest.mark.parametrize("status", list(SubscriptionStatus))
@pytest.mark.parametrize("cancel", [False, True])
def test_every_status_and_flag_comes_back_exactly(status: SubscriptionStatus, cancel: bool) -> None:
    original = standing(
        "acct_a",
        3,
        status=status,
        cancel=cancel,
        past_due_since=NOW,
        cancel_at=NOW + timedelta(days=9, microseconds=3) if cancel else None,
    )
    assert decode(encode(original)) == original
    table = StandingTable()
    with table.lock:
        table.put(original)
    assert table.get("acct_a") == original


def test_an_account_without_a_subscription_comes_back_as_such() -> None:
    table = StandingTable()
    none = AccountStanding("acct_b", 2, None, None)
    with table.lock:
        table.put(none)
    assert table.get("acct_b") == none
    assert table.get("acct_never") is None


def test_an_older_version_never_overwrites_a_newer_one() -> None:
    table = StandingTable()
    with table.lock:
        assert table.put(standing("acct_a", 5, plan="enterprise"))
        assert not table.put(standing("acct_a", 4, plan="pro"))
        assert not table.put(standing("acct_a", 5, plan="pro"))
    held = table.get("acct_a")
    assert held is not None
    assert held.standing is not None
    assert (held.state_version, held.standing.plan) == (5, "enterprise")


def test_the_table_grows_and_keeps_every_account() -> None:
    table = StandingTable()
    with table.lock:
        for n in range(5_000):  # several times the first index's room
            table.put(standing(f"acct_{n}", n + 1, plan=f"plan{n % 7}"))
    assert len(table) == 5_000
    for n in range(5_000):
        held = table.get(f"acct_{n}")
        assert held is not None
        assert held.standing is not None
        assert (held.state_version, held.standing.plan) == (n + 1, f"plan{n % 7}")


def test_until_complete_an_unheld_account_is_not_vouched_for() -> None:
    view = EntitlementView()
    assert view.held("acct_x") is None
    view.loaded()
    assert view.held("acct_x") == AccountStanding.unknown("acct_x")


def test_a_change_makes_the_account_outdated_until_its_version_is_held() -> None:
    view = EntitlementView()
    view.put(standing("acct_a", 1))
    view.put(standing("acct_b", 1))
    view.changed("acct_a", 2)
    held_a, held_b = view.held("acct_a"), view.held("acct_b")
    assert held_a is not None
    assert not view.current(held_a)
    assert held_b is not None
    assert view.current(held_b)
    assert view.outdated() == ["acct_a"]
    view.put(standing("acct_a", 2))
    held_a = view.held("acct_a")
    assert held_a is not None
    assert view.current(held_a)
    assert view.outdated() == []


def test_a_read_older_than_a_heard_change_does_not_clear_it() -> None:
    """The load (or a read-through) raced a commit: the commit wins."""
    view = EntitlementView()
    view.changed("acct_a", 7)  # committed while the load was reading
    view.put(standing("acct_a", 6))  # what the load's snapshot saw
    held = view.held("acct_a")
    assert held is not None
    assert held.state_version == 6
    assert not view.current(held)
    assert view.outdated() == ["acct_a"]


def test_a_change_the_view_already_holds_is_no_news() -> None:
    view = EntitlementView()
    view.put(standing("acct_a", 4))
    view.changed("acct_a", 4)  # our own commit, echoed by NOTIFY after the refresh
    assert view.outdated() == []


def test_a_lost_feed_makes_answers_stale_until_the_catch_up() -> None:
    view = EntitlementView()
    assert view.freshness() is LIVE
    view.lost(NOW)
    view.lost(NOW + timedelta(seconds=5))  # the first loss is the one that counts
    assert view.freshness().stale
    assert view.freshness().known_current_at == NOW
    view.regained()
    assert view.catch_up_since == NOW
    assert view.freshness().stale  # not current until caught up
    view.caught_up(NOW)
    assert view.freshness() is LIVE
    assert view.catch_up_since is None


def test_a_bulk_put_keeps_newer_entries_and_adds_new_ones() -> None:
    table = StandingTable()
    with table.lock:
        table.put(standing("acct_a", 5, plan="enterprise"))  # heard during the load
        table.put_all(
            [
                encode(standing("acct_a", 4, plan="pro")),  # the load's older read
                encode(standing("acct_b", 2, plan="pro")),
                encode(AccountStanding("acct_c", 1, NOW, None)),
            ]
        )
    a, b, c = table.get("acct_a"), table.get("acct_b"), table.get("acct_c")
    assert a is not None
    assert a.standing is not None
    assert (a.state_version, a.standing.plan) == (5, "enterprise")
    assert b == standing("acct_b", 2, plan="pro")
    assert c == AccountStanding("acct_c", 1, NOW, None)
    assert len(table) == 3
