"""The idempotency claims this process's calls hold."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Claim:
    method: str
    key: str
    claimed_at: datetime


class HeldClaims:
    """The claims this process's calls hold now, to release at shutdown."""

    def __init__(self) -> None:
        self._held: set[Claim] = set()
        self._lock = threading.Lock()

    def add(self, claim: Claim) -> None:
        with self._lock:
            self._held.add(claim)

    def discard(self, claim: Claim) -> None:
        with self._lock:
            self._held.discard(claim)

    def take_all(self) -> list[Claim]:
        with self._lock:
            held, self._held = list(self._held), set()
        return held
