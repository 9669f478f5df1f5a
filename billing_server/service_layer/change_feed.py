"""The feed of account changes that WatchEntitlements streams to callers.

Each change gets a sequence number; a resume token names the feed instance
(one per server process) and a position in it. A recent window of changes
is kept, so that a client reconnecting soon learns what it missed; one that
fell further behind, or comes from another instance, is told to reset.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    seq: int
    account_id: str
    state_version: int


@dataclass(frozen=True)
class Catchup:
    changes: list[Change]
    # The caller must drop its whole cache first.
    reset: bool
    position: int


class ChangeFeed:
    def __init__(self, window: int = 10_000) -> None:
        self.instance = uuid.uuid4().hex[:16]
        self._window: deque[Change] = deque(maxlen=window)
        self._seq = 0
        # A reset (missed notifications) makes every older position unusable.
        self._reset_at = 0
        self._latest: dict[str, int] = {}
        self._condition = threading.Condition()
        self._closed = False

    def publish(self, account_id: str, state_version: int) -> None:
        with self._condition:
            # The same change can arrive twice (committed here, and echoed by
            # PostgreSQL's NOTIFY); only a newer version is news.
            if self._latest.get(account_id, -1) >= state_version:
                return
            self._latest[account_id] = state_version
            self._seq += 1
            self._window.append(Change(self._seq, account_id, state_version))
            self._condition.notify_all()

    def forget(self, account_id: str) -> None:
        """The account was erased: watchers drop what they hold of it."""
        with self._condition:
            self._latest.pop(account_id, None)
        self.publish(account_id, 0)

    def reset(self) -> None:
        """Notifications may have been lost: every watcher must drop its cache."""
        with self._condition:
            self._seq += 1
            self._reset_at = self._seq
            self._latest.clear()
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def token(self, position: int) -> str:
        return f"{self.instance}:{position}"

    def start(self, resume_token: str) -> Catchup:
        """Where a new watcher starts: now, or after its resume token."""
        with self._condition:
            now = self._seq
            if not resume_token:
                return Catchup([], False, now)
            instance, _, position_text = resume_token.partition(":")
            position = int(position_text) if position_text.isdigit() else -1
            oldest = self._window[0].seq if self._window else now + 1
            usable = (
                instance == self.instance
                and self._reset_at <= position <= now
                and (position + 1 >= oldest or position == now)
            )
            if not usable:
                return Catchup([], True, now)
            return Catchup([c for c in self._window if c.seq > position], False, now)

    def wait(self, position: int, timeout_s: float) -> tuple[list[Change], bool, int]:
        """Changes after `position` (waiting up to `timeout_s` for some), whether
        a reset happened since, and the new position."""
        with self._condition:
            if self._seq == position and not self._closed:
                self._condition.wait(timeout_s)
            reset = self._reset_at > position
            changes = [] if reset else [c for c in self._window if c.seq > position]
            return changes, reset, self._seq


def matching(changes: Iterable[Change], accounts: frozenset[str]) -> list[Change]:
    return [c for c in changes if not accounts or c.account_id in accounts]
