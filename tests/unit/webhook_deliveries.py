"""Delivering signed events to the service layer over the in-memory database,
and applying them, for use-case tests."""

from __future__ import annotations

import json

from billing_server.domain.stored_events import StoredEvent
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.ingest import Ingested, ingest_delivery
from billing_server.service_layer.webhooks import apply_all_due
from tests.signing import signature_header
from tests.unit.fake_unit_of_work import WEBHOOK_SECRET, FakeDatabase


def deliver(deps: Dependencies, payload: bytes) -> Ingested:
    """Takes the delivery in, as the gateway's forward would; applies nothing."""
    return ingest_delivery(deps, payload, signature_header(payload, WEBHOOK_SECRET))


def deliver_and_apply(deps: Dependencies, *payloads: bytes) -> None:
    for payload in payloads:
        deliver(deps, payload)
    apply_all_due(deps)


def stored(database: FakeDatabase, payload: bytes) -> StoredEvent:
    event_id = json.loads(payload)["id"]
    row = database.events.get(event_id)
    assert row is not None, f"event {event_id} was not stored"
    return row
