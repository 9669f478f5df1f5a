"""Cleanup deletes what is past its retention, and nothing else."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from billing_server.adapters.orm import IdempotencyRecordRow, StripeEventRow
from billing_server.adapters.stripe_events import read_event
from billing_server.bootstrap import Application
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.idempotency import run_idempotent
from billing_server.service_layer.ingest import store_events
from billing_server.service_layer.retention import clean_up
from tests import stripe_payloads as stripe

pytestmark = pytest.mark.integration


def at(deps: Dependencies, moment: datetime) -> Dependencies:
    return dataclasses.replace(deps, clock=lambda: moment)


def test_cleanup_respects_each_retention(app: Application, deps: Dependencies) -> None:
    now = datetime.now(UTC) + timedelta(days=400)  # after anything other tests stored
    old, fresh = now - timedelta(days=31), now - timedelta(days=29)
    events = {
        moment: stripe.event("customer.created", {"id": "cus_x", "object": "customer"}, moment)
        for moment in (old, fresh)
    }
    for moment, payload in events.items():
        # Ignored types are finished the moment they are stored.
        store_events(deps.uow, [(read_event(payload), None)], moment)
    keys = {}
    for label, moment in (
        ("stale", now - timedelta(hours=25)),
        ("recent", now - timedelta(hours=1)),
    ):
        keys[label] = f"cleanup-{uuid.uuid4().hex}"
        run_idempotent(
            at(deps, moment),
            method="M",
            key=keys[label],
            fingerprint="f",
            compute=lambda _: b"x",
            encode=bytes,
        )

    report = clean_up(
        at(deps, now),
        processed_events_older_than=timedelta(days=30),
        idempotency_records_older_than=timedelta(hours=24),
        batch_size=2,
    )

    assert report.events_deleted >= 1
    assert report.idempotency_records_deleted >= 1
    with app.database.reader() as session:
        remaining_events = set(session.scalars(select(StripeEventRow.event_id)))
        remaining_keys = set(session.scalars(select(IdempotencyRecordRow.key)))
    assert json.loads(events[old])["id"] not in remaining_events
    assert json.loads(events[fresh])["id"] in remaining_events
    assert keys["stale"] not in remaining_keys
    assert keys["recent"] in remaining_keys
