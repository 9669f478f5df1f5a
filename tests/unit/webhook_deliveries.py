"""Finding a delivered event in the in-memory database, for use-case tests."""

from __future__ import annotations

import json

from billing_server.domain.stored_events import StoredEvent
from tests.unit.fake_unit_of_work import FakeDatabase


def stored(database: FakeDatabase, payload: bytes) -> StoredEvent:
    event_id = json.loads(payload)["id"]
    row = database.events.get(event_id)
    assert row is not None, f"event {event_id} was not stored"
    return row
