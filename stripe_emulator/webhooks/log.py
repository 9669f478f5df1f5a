"""The record of every delivery attempt, read by tests through /_emulator/webhooks."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

from stripe_emulator.jsontypes import JSON

# Enough for any test run; a long-lived dev emulator must not grow forever.
MAX_ATTEMPTS_KEPT = 10_000


@dataclass(frozen=True)
class Attempt:
    event_id: str
    event_type: str
    endpoint_id: str
    endpoint_url: str
    attempt: int
    status: int | str  # the HTTP status, or "error" (refused, reset, timed out)
    delivered_at: float  # unix seconds
    duplicate: bool
    error: str | None

    @property
    def succeeded(self) -> bool:
        return isinstance(self.status, int) and 200 <= self.status < 300


class DeliveryLog:
    """Not thread-safe: the dispatcher guards it with its own lock."""

    def __init__(self) -> None:
        self._attempts: deque[Attempt] = deque(maxlen=MAX_ATTEMPTS_KEPT)
        self.succeeded = 0
        self.failed_attempts = 0
        self.dropped = 0

    def add(self, attempt: Attempt) -> None:
        self._attempts.append(attempt)
        if attempt.succeeded:
            self.succeeded += 1
        else:
            self.failed_attempts += 1

    def attempts(self) -> list[JSON]:
        return [asdict(attempt) for attempt in self._attempts]
