"""The plan catalogue as a client holds it, to turn one GetEntitlements
answer into the answer of every plan and feature check of an account."""

from __future__ import annotations

import time
from collections.abc import Callable

from billing_client._types import Plan

# Reused this long; a catalogue change reaches clients within it (a name the
# copy does not know is asked the server directly meanwhile).
CATALOG_TTL = 300.0
# After a failed fetch, checks go to CheckPlan for this long before retrying.
RETRY_AFTER = 30.0


class CatalogCopy:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._plans: list[Plan] | None = None
        self._until = 0.0
        # False once the server is known not to offer GetEntitlements.
        self.usable = True

    def current(self) -> list[Plan] | None:
        """The copy while it is fresh; None when it must be fetched (or
        should not be, after a recent failure: see `due`)."""
        return self._plans if self._clock() < self._until else None

    def due(self) -> bool:
        return self.usable and self._clock() >= self._until

    def fetched(self, plans: list[Plan]) -> None:
        self._plans, self._until = plans, self._clock() + CATALOG_TTL

    def failed(self) -> None:
        self._plans, self._until = None, self._clock() + RETRY_AFTER


def knows(plans: list[Plan], kind: str, name: str) -> bool:
    if kind == "plan":
        return any(p.name == name for p in plans)
    return any(name in p.features for p in plans)
