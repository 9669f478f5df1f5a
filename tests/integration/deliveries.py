"""Delivering signed events to the service layer, and applying them, for integration tests."""

from __future__ import annotations

import json

from sqlalchemy import select

from billing_server.adapters.orm import StripeEventRow
from billing_server.bootstrap import Application
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.ingest import Ingested, ingest_delivery
from billing_server.service_layer.webhooks import apply_all_due
from tests.signing import signature_header

WEBHOOK_SECRET = "whsec_integration_tests_only"


def deliver(deps: Dependencies, payload: bytes) -> Ingested:
    """Takes the delivery in, as the gateway's forward would; applies nothing."""
    return ingest_delivery(deps, payload, signature_header(payload, WEBHOOK_SECRET))


def deliver_and_apply(deps: Dependencies, *payloads: bytes) -> None:
    for payload in payloads:
        deliver(deps, payload)
    apply_all_due(deps)


def stored(app: Application, payload: bytes) -> StripeEventRow:
    event_id = json.loads(payload)["id"]
    with app.database.reader() as session:
        row = session.scalars(
            select(StripeEventRow).where(StripeEventRow.event_id == event_id)
        ).one_or_none()
        assert row is not None, f"event {event_id} was not stored"
        return row
