"""An account as the service holds it: its Stripe customer and the version
of its billing state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Account:
    id: str
    # None until a first checkout creates the customer.
    customer_id: str | None
    # Bumped by every change to the account's billing state.
    state_version: int
    state_updated_at: datetime | None
    created_at: datetime
