"""A doorbell for worker threads: rung when there is work, never missed.

A worker notes the bell's count before it looks for work; if it finds none,
it waits for the count to move past the one it noted. A ring that came
while it looked is therefore not lost. A ring wakes one waiting worker: the
one that finds more work than it takes rings again for the next.
"""

from __future__ import annotations

import threading


class Doorbell:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rings = 0

    @property
    def rings(self) -> int:
        return self._rings

    def ring(self) -> None:
        with self._condition:
            self._rings += 1
            self._condition.notify()

    def ring_all(self) -> None:
        with self._condition:
            self._rings += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout_s: float) -> None:
        """Returns once the bell has rung since `seen`, or after `timeout_s`."""
        with self._condition:
            self._condition.wait_for(lambda: self._rings != seen, timeout_s)
