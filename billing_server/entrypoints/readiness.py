"""Readiness from several conditions: ready only while all of them hold."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Readiness:
    def __init__(self, report: Callable[[bool], None], **conditions: bool) -> None:
        self._report = report
        self._conditions = dict(conditions)
        self._lock = threading.Lock()
        report(all(self._conditions.values()))

    def set(self, condition: str, holds: bool) -> None:
        with self._lock:
            self._conditions[condition] = holds
            self._report(all(self._conditions.values()))

    def setter(self, condition: str) -> Callable[[bool], None]:
        return lambda holds: self.set(condition, holds)
