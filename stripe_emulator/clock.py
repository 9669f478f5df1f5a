"""The emulator's clock: wall time plus an offset that tests can advance.

Objects on a test clock live at that clock's frozen time instead: code that
acts for them runs inside `clock.frozen_at(t)`, which makes `now()` answer
`t` on that thread only (every handler runs on one thread, under the store
lock), so the objects, invoices and events it makes carry the clock's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Clock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self.offset = 0
        self._frozen = threading.local()

    def now(self) -> int:
        frozen: int | None = getattr(self._frozen, "at", None)
        if frozen is not None:
            return frozen
        return self.real_now()

    def real_now(self) -> int:
        """The emulator's own time, whatever test clock this thread acts for."""
        return int(self._wall()) + self.offset

    @contextmanager
    def frozen_at(self, at: int | None) -> Iterator[None]:
        """`now()` answers `at` on this thread inside the block (None: no change)."""
        if at is None:
            yield
            return
        previous = getattr(self._frozen, "at", None)
        self._frozen.at = at
        try:
            yield
        finally:
            self._frozen.at = previous

    def advance(self, seconds: int) -> int:
        # Only forwards: Stripe objects never see time run backwards.
        if seconds < 0:
            raise ValueError("the clock only moves forwards")
        self.offset += seconds
        return self.real_now()

    def reset(self) -> None:
        self.offset = 0
