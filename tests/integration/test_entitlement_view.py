"""The entitlement view against a real database: the load, the race between
the load and the change feed, catch-up after a lost feed, read-through for
`min_state_version`, and stale answers. GetEntitlements against CheckPlan is
tested in tests/unit/test_entitlement_answers.py."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from billing_server.adapters.entitlement_view import EntitlementView
from billing_server.adapters.standing_reader import StandingReader
from billing_server.adapters.standing_table import Encoded, decode
from billing_server.adapters.view_keeper import ViewKeeper
from billing_server.bootstrap import Application
from billing_server.domain.entitlements import PlanRequirement
from billing_server.domain.errors import FailedPrecondition, Unavailable
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer.entitlement_checks import Source, check_plan
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork
from tests.subscriptions import a_subscription
from tests.subscriptions import record as record_subscription

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=250_000)


def record(
    app: Application,
    account_id: str,
    *,
    plan: str = "pro",
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    created: datetime | None = None,
) -> None:
    """Writes a subscription for the account and bumps its state version,
    committed through the application (so that its view hears of it). The
    newest subscription is the one that counts, other things equal."""
    created = created or datetime.now(UTC) - timedelta(days=3)
    past_due = status is SubscriptionStatus.PAST_DUE
    subscription = a_subscription(
        account_id,
        subscription_id=f"sub_{uuid.uuid4().hex[:12]}",
        item_id=f"si_{uuid.uuid4().hex[:12]}",
        created=created,
        plan=plan,
        status=status,
        past_due_since=NOW - timedelta(days=2) if past_due else None,
    )
    record_subscription(app.deps.uow, subscription, app.deps.clock())


def version_in_database(app: Application, account_id: str) -> int:
    with app.deps.uow() as uow:
        return uow.accounts.state(account_id).state_version


def accounts(n: int) -> list[str]:
    prefix = uuid.uuid4().hex[:10]
    return [f"acct_{prefix}_{i}" for i in range(n)]


def test_the_bulk_reader_picks_the_same_subscription_as_a_single_read(app: Application) -> None:
    live_over_canceled, newest_canceled, never_subscribed, unknown = accounts(4)
    record(app, live_over_canceled, plan="enterprise", status=SubscriptionStatus.CANCELED)
    record(app, live_over_canceled, plan="pro", created=NOW - timedelta(days=40))
    record(app, newest_canceled, plan="pro", status=SubscriptionStatus.CANCELED)
    record(
        app,
        newest_canceled,
        plan="enterprise",
        status=SubscriptionStatus.CANCELED,
        created=NOW - timedelta(days=1),
    )
    with app.deps.uow(write=True) as uow:
        uow.accounts.ensure([never_subscribed], NOW)
        uow.commit()

    reader = StandingReader(app.database.engine)
    wanted = [live_over_canceled, newest_canceled, never_subscribed, unknown]
    every = [row for batch in reader.each(batch_size=3) for row in batch]
    from_all = {row[0]: decode(row) for row in every if row[0] in wanted}
    from_some = {row[0]: decode(row) for row in reader.of(wanted)}
    with app.deps.uow() as uow:
        single = {a: uow.accounts.state(a).standing for a in wanted}

    assert from_some == single
    assert from_all == {a: s for a, s in single.items() if a != unknown}
    plans = {a: s.standing.plan if s.standing else None for a, s in single.items()}
    assert plans[live_over_canceled] == "pro"  # live beats canceled
    assert plans[newest_canceled] == "enterprise"  # then the newest
    assert plans[never_subscribed] is None


class _ChangingDuringLoad(StandingReader):
    """Commits a change to `account` once the load's snapshot is taken."""

    def __init__(self, app: Application, account: str) -> None:
        super().__init__(app.database.engine)
        self._app = app
        self._account = account

    def each(self, batch_size: int = 10_000) -> Iterator[list[Encoded]]:
        first = True
        for batch in super().each(batch_size=1):
            yield batch
            if first:
                first = False
                record(self._app, self._account, plan="enterprise")


def test_a_change_committed_during_the_load_wins(app: Application) -> None:
    (account,) = accounts(1)
    record(app, account, plan="pro")
    # The application's own view: its commits reach it as they would in the server.
    view, deps = app.deps.view, app.deps
    assert view is not None
    ViewKeeper(view, _ChangingDuringLoad(app, account)).load()

    assert view.complete
    answer = check_plan(deps, account, PlanRequirement("enterprise"))
    assert answer.decision.allowed, "the load's older read was kept over the change"
    assert answer.source is Source.DATABASE
    assert answer.decision.state_version == version_in_database(app, account)
    again = check_plan(deps, account, PlanRequirement("enterprise"))
    assert again.source is Source.VIEW
    assert again.decision.allowed


def test_a_complete_view_answers_unknown_accounts_without_the_database(
    app: Application,
) -> None:
    view = EntitlementView()
    view.loaded()
    deps = dataclasses.replace(app.deps, view=view, uow=_unreachable)
    answer = check_plan(deps, "acct_never_seen_anywhere", PlanRequirement("free"))
    assert answer.source is Source.VIEW
    assert answer.decision.allowed
    assert answer.decision.state_version == 0


def test_min_state_version_reads_through_a_view_that_has_not_heard(app: Application) -> None:
    (account,) = accounts(1)
    record(app, account, plan="pro")
    view = EntitlementView()
    ViewKeeper(view, StandingReader(app.database.engine)).load()
    deps = dataclasses.replace(app.deps, view=view)
    # Another replica's commit, whose notice this view has not had yet.
    record(app, account, plan="enterprise")
    newest = version_in_database(app, account)

    unaware = check_plan(deps, account, PlanRequirement("enterprise"))
    assert unaware.source is Source.VIEW
    assert not unaware.decision.allowed
    fresh = check_plan(deps, account, PlanRequirement("enterprise"), newest)
    assert fresh.source is Source.DATABASE
    assert fresh.decision.allowed
    assert fresh.decision.state_version == newest
    kept = check_plan(deps, account, PlanRequirement("enterprise"), newest)
    assert kept.source is Source.VIEW
    assert kept.decision.allowed

    with pytest.raises(FailedPrecondition) as ahead:
        check_plan(deps, account, PlanRequirement("pro"), newest + 5)
    assert ahead.value.reason == "STATE_VERSION_AHEAD"


def test_after_a_lost_feed_the_keeper_catches_up_without_reloading(app: Application) -> None:
    changed, untouched = accounts(2)
    record(app, changed, plan="pro")
    record(app, untouched, plan="pro")
    reader = _CountingReader(app)
    view = EntitlementView()
    keeper = ViewKeeper(view, reader)
    keeper.load()
    view.lost(app.deps.clock())
    record(app, changed, plan="enterprise")  # not heard: the feed is down
    view.regained()

    keeper.catch_up()
    keeper.refresh()

    assert reader.loads == 1
    assert not view.freshness().stale
    held = view.held(changed)
    assert held is not None
    assert held.standing is not None
    assert held.standing.plan == "enterprise"
    assert held.state_version == version_in_database(app, changed)
    assert reader.read == [[changed]]  # only what changed was read again


def test_stale_answers_while_out_of_touch_then_unavailable(app: Application) -> None:
    (account,) = accounts(1)
    record(app, account, plan="pro")
    view = EntitlementView(stale_max=timedelta(minutes=5))
    ViewKeeper(view, StandingReader(app.database.engine)).load()
    lost_at = app.deps.clock()
    view.lost(lost_at)
    deps = dataclasses.replace(app.deps, view=view, uow=_unreachable)

    within = dataclasses.replace(deps, clock=lambda: lost_at + timedelta(minutes=4))
    stale = check_plan(within, account, PlanRequirement("pro"))
    assert stale.decision.allowed
    assert stale.source is Source.VIEW
    assert stale.freshness.stale
    assert stale.freshness.known_current_at == lost_at

    beyond = dataclasses.replace(deps, clock=lambda: lost_at + timedelta(minutes=6))
    with pytest.raises(Unavailable):
        check_plan(beyond, account, PlanRequirement("pro"))
    # With the database back (only the feed still lost), answers come from it.
    reachable = dataclasses.replace(beyond, uow=app.deps.uow)
    read = check_plan(reachable, account, PlanRequirement("pro"))
    assert read.source is Source.DATABASE
    assert not read.freshness.stale


class _CountingReader(StandingReader):
    def __init__(self, app: Application) -> None:
        super().__init__(app.database.engine)
        self.loads = 0
        self.read: list[list[str]] = []

    def each(self, batch_size: int = 10_000) -> Iterator[list[Encoded]]:
        self.loads += 1
        yield from super().each(batch_size)

    def of(self, account_ids: Collection[str]) -> list[Encoded]:
        self.read.append(sorted(account_ids))
        return super().of(account_ids)


def _unreachable(write: bool = False) -> AbstractUnitOfWork:
    raise Unavailable("the billing database is unreachable; retry later")
