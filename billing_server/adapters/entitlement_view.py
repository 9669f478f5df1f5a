"""The in-memory view CheckPlan answers from: account -> billing state.

A hit takes no lock and touches no database. A miss reads the account from
the database and keeps it, unless an invalidation happened meanwhile: the
read may then predate the change, so it is used once and not kept. Memory is
bounded: past `max_accounts` the oldest entries go first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from billing_server.domain.subscriptions import AccountState

# Measured with bench/memory.py: an entry (AccountState, its Subscription,
# datetimes and strings, plus the dict slot) costs about this much.
APPROX_BYTES_PER_ACCOUNT = 1_300


class EntitlementView:
    def __init__(self, max_accounts: int = 250_000) -> None:
        self._max_accounts = max_accounts
        self._entries: dict[str, AccountState] = {}
        self._lock = threading.Lock()
        # Bumped by every invalidation; a miss keeps its read only if no
        # invalidation happened while it read.
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, account_id: str, load: Callable[[str], AccountState]) -> AccountState:
        state = self._entries.get(account_id)
        if state is not None:
            return state
        generation = self._generation
        state = load(account_id)
        with self._lock:
            if generation == self._generation:
                if len(self._entries) >= self._max_accounts:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[account_id] = state
        return state

    def invalidate(self, account_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(account_id, None)

    def invalidate_all(self) -> None:
        """After notifications may have been missed: every entry is suspect."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
