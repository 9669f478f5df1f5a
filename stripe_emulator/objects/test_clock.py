"""The `test_helpers.test_clock` object."""

from __future__ import annotations

from stripe_emulator.jsontypes import JSON
from stripe_emulator.periods import days

LIFETIME = days(30)  # Stripe deletes a test clock 30 days after it was made


def test_clock(clock_id: str, created: int, *, frozen_time: int, name: str | None) -> JSON:
    return {
        "id": clock_id,
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + LIFETIME,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": name,
        "status": "ready",
        "status_details": {"advancing": None},
    }
