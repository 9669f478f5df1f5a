"""The emulator's clock: wall time plus an offset that tests can advance."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self.offset = 0

    def now(self) -> int:
        return int(self._wall()) + self.offset

    def advance(self, seconds: int) -> int:
        # Only forwards: Stripe objects never see time run backwards.
        if seconds < 0:
            raise ValueError("the clock only moves forwards")
        self.offset += seconds
        return self.now()

    def reset(self) -> None:
        self.offset = 0
