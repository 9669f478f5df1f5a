"""The secret integration tests' service accepts, and finding a delivered event in its database."""

from __future__ import annotations

import json

from sqlalchemy import select

from billing_server.adapters.orm import StripeEventRow
from billing_server.bootstrap import Application

WEBHOOK_SECRET = "whsec_integration_tests_only"


def stored(app: Application, payload: bytes) -> StripeEventRow:
    event_id = json.loads(payload)["id"]
    with app.database.reader() as session:
        row = session.scalars(
            select(StripeEventRow).where(StripeEventRow.event_id == event_id)
        ).one_or_none()
        assert row is not None, f"event {event_id} was not stored"
        return row
