"""`billing-admin events retry` waits for the outcome of what it made due,
even when a running server's applier takes the events first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing_server.service_layer import event_recovery
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.event_recovery import apply_in_process, retry_events
from billing_server.service_layer.webhooks import apply_all_due
from tests import stripe_payloads as payloads
from tests.deliveries import deliver
from tests.unit.fake_unit_of_work import FakeDatabase
from tests.unit.webhook_deliveries import stored


def failed_event(deps: Dependencies, database: FakeDatabase) -> bytes:
    """An event whose last attempt failed, to be tried again after a backoff."""
    now = deps.clock()
    payload = payloads.event(
        "customer.subscription.updated",
        payloads.subscription("sub_1", "cus_1", period_start=now, account_id="acct_1"),
        now,
    )
    deliver(deps, payload)
    event_id = stored(database, payload).id
    with deps.uow(write=True) as uow:
        uow.events.finish(
            [event_id], "failed", now, error="Stripe: 503", next_attempt_at=now + timedelta(hours=1)
        )
        uow.commit()
    return payload


def test_retry_waits_for_an_event_a_server_took_first(
    deps: Dependencies, database: FakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = failed_event(deps, database)
    [event_id] = retry_events(deps, event_ids=[stored(database, payload).id])
    # The server heard the events become due and took this one: the
    # command's own applier finds nothing due, and the event still shows its
    # old status while the server applies it.
    own_turns: list[int] = []
    monkeypatch.setattr(event_recovery, "apply_all_due", lambda deps, limit: own_turns.append(0))

    def server_applies(seconds: float) -> None:
        apply_all_due(deps)

    report = apply_in_process(deps, [event_id], limit=2, sleep=server_applies)

    assert (report.statuses, stored(database, payload).status) == (
        {"processed": 1},
        "processed",
    )
    assert len(own_turns) == 2


def test_retry_reports_a_failure_once_the_event_was_tried_again(
    deps: Dependencies, database: FakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = failed_event(deps, database)
    [event_id] = retry_events(deps, event_ids=[stored(database, payload).id])

    def never(seconds: float) -> None:
        raise AssertionError("an event tried since it was made due is not waited for")

    # Tried here and failed again: its next attempt is after a backoff, so
    # the command reports it at once.
    monkeypatch.setattr(
        event_recovery, "apply_all_due", lambda deps, limit: _fail_again(deps, event_id)
    )
    report = apply_in_process(deps, [event_id], limit=2, sleep=never)
    assert report.statuses == {"failed": 1}


def _fail_again(deps: Dependencies, event_id: str) -> int:
    now = deps.clock()
    with deps.uow(write=True) as uow:
        uow.events.finish([event_id], "failed", now, next_attempt_at=now + timedelta(seconds=2))
        uow.commit()
    return 1
