"""Changes reach every replica through PostgreSQL's LISTEN/NOTIFY (PostgreSQL only)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from billing_server.adapters.change_listener import APPLICATION_NAME, ChangeListener
from billing_server.adapters.database import make_engine
from billing_server.bootstrap import Application, bootstrap
from billing_server.config import Settings
from billing_server.domain.entitlements import PlanRequirement
from billing_server.domain.subscriptions import AccountStanding
from billing_server.service_layer.entitlement_checks import check_plan
from paymentsvc_testing.tcp_proxy import TcpProxy
from tests.conftest import TEST_DATABASE_ENV
from tests.e2e.services import wait_until
from tests.fakes import FakeStripeGateway

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get(TEST_DATABASE_ENV), reason="needs PostgreSQL"),
]


class Heard:
    def __init__(self) -> None:
        self.changes: list[tuple[str, int]] = []
        self.losses: list[datetime] = []
        self.regains = 0
        self.event = threading.Event()

    def change(self, account_id: str, version: int) -> None:
        self.changes.append((account_id, version))
        self.event.set()

    def lost(self, last_known_current: datetime) -> None:
        self.losses.append(last_known_current)
        self.event.set()

    def regained(self) -> None:
        self.regains += 1
        self.event.set()

    def wait(self, timeout_s: float = 2.0) -> bool:
        hit = self.event.wait(timeout_s)
        self.event.clear()
        return hit


@pytest.fixture
def replicas(database_url: str) -> Iterator[tuple[Application, Application]]:
    settings = Settings.from_env({"SQLALCHEMY_DATABASE_URI": database_url})
    a = bootstrap(settings, stripe=FakeStripeGateway())
    b = bootstrap(settings, stripe=FakeStripeGateway())
    a.change_listener.start()
    b.change_listener.start()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def listener(database_url: str) -> Iterator[tuple[ChangeListener, Heard]]:
    heard = Heard()
    engine = make_engine(database_url)
    running = ChangeListener(engine, heard.change, heard.lost, heard.regained, keepalive_s=0.3)
    running.start()
    assert running.listening
    yield running, heard
    running.stop()
    engine.dispose()


def bump(app: Application, account_id: str, *, commit: bool = True) -> None:
    with app.deps.uow(write=True) as uow:
        uow.accounts.ensure([account_id], app.deps.clock())
        uow.accounts.bump_state([account_id], app.deps.clock())
        if commit:
            uow.commit()


def test_a_change_on_one_replica_reaches_the_other(
    replicas: tuple[Application, Application], account_id: str
) -> None:
    a, b = replicas
    # Now in b's view.
    before = check_plan(b.deps, account_id, PlanRequirement("free")).decision
    bump(a, account_id)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if (
            check_plan(b.deps, account_id, PlanRequirement("free")).decision.state_version
            > before.state_version
        ):
            break
        time.sleep(0.01)
    else:
        pytest.fail("replica b kept answering from its stale view")


def test_a_rolled_back_change_notifies_nobody(
    replicas: tuple[Application, Application],
    listener: tuple[ChangeListener, Heard],
    account_id: str,
) -> None:
    a, _ = replicas
    _, heard = listener
    bump(a, account_id, commit=False)
    assert not heard.wait(0.5)
    bump(a, account_id)
    assert heard.wait()
    assert (account_id, 1) in heard.changes


def test_a_dropped_connection_is_detected_and_the_listener_comes_back(
    replicas: tuple[Application, Application],
    listener: tuple[ChangeListener, Heard],
    account_id: str,
) -> None:
    a, _ = replicas
    running, heard = listener
    engine = make_engine(os.environ[TEST_DATABASE_ENV])
    try:
        with engine.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            )
            connection.commit()
    finally:
        engine.dispose()
    cut_at = datetime.now(UTC)
    deadline = time.monotonic() + 10
    while not heard.regains and time.monotonic() < deadline:  # lost, then listening anew
        time.sleep(0.05)
    assert heard.regains == 1
    # The loss names a moment before the cut: everything before it was heard.
    assert len(heard.losses) == 1
    assert heard.losses[0] <= cut_at
    assert running.listening
    bump(a, account_id)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if any(account == account_id for account, _ in heard.changes):
            break
        time.sleep(0.02)
    else:
        pytest.fail("no notification after the listener came back")


def test_a_listener_cut_off_catches_up_without_reloading_the_view(
    database_url: str, account_id: str
) -> None:
    url = make_url(database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port)
    behind = bootstrap(
        Settings.from_env(
            {"SQLALCHEMY_DATABASE_URI": through_proxy.render_as_string(hide_password=False)}
        ),
        stripe=FakeStripeGateway(),
    )
    writer = bootstrap(
        Settings.from_env({"SQLALCHEMY_DATABASE_URI": database_url}), stripe=FakeStripeGateway()
    )
    loads: list[int] = []
    keeper = behind.view_keeper
    load = keeper.load

    def counted_load() -> int:
        loads.append(load())
        return loads[-1]

    keeper.load = counted_load  # type: ignore[method-assign]
    view = behind.deps.view
    assert view is not None
    try:
        behind.change_listener.start()
        keeper.start()
        assert keeper.loaded.wait(10)

        def held_version() -> int:
            held = view.held(account_id)
            return held.state_version if held is not None and view.current(held) else -1

        bump(writer, account_id)
        wait_until(lambda: held_version() == 1, 5, "the change heard by NOTIFY")

        proxy.cut()
        wait_until(lambda: view.freshness().stale, 10, "the view to know it is out of touch")
        bump(writer, account_id)  # nobody hears this one
        proxy.restore()
        wait_until(lambda: not view.freshness().stale, 20, "the view to catch up")
        wait_until(lambda: held_version() == 2, 5, "the missed change to be read")
        assert len(loads) == 1  # caught up, not reloaded
    finally:
        behind.close()
        writer.close()
        proxy.cut()


def test_an_account_erased_by_hand_is_forgotten_on_notice(
    replicas: tuple[Application, Application], account_id: str
) -> None:
    a, b = replicas
    bump(a, account_id)
    view = b.deps.view
    assert view is not None
    b.view_keeper.load()
    held = view.held(account_id)
    assert held is not None
    assert held.state_version == 1
    # docs/data.md, "Erasing an account", steps 3 and 4.
    engine = make_engine(a.settings.database_url)
    try:
        with engine.connect() as connection:
            connection.execute(
                text("DELETE FROM accounts WHERE account_id = :a"), {"a": account_id}
            )
            connection.execute(
                text("SELECT pg_notify('paymentsvc_account_changes', :a || ' forget')"),
                {"a": account_id},
            )
            connection.commit()
    finally:
        engine.dispose()
    wait_until(
        lambda: view.held(account_id) == AccountStanding.unknown(account_id),
        5,
        "the erased account to be forgotten",
    )
