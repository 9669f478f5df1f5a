"""An in-process cache of CheckPlan answers with single-flight loading.

Entries are keyed by (account id, "plan" | "feature", name). An entry is
fresh for ``ttl`` seconds but never beyond the answer's own bounds
(``valid_until``, the end of the paid-up period or of the grace period: the
server says the answer may change then). Past freshness an entry is kept, in
LRU order, so that a failure policy can serve it stale; ``invalidate`` drops
an account's entries when a change is known (for example on a push
notification, or after this process changed the subscription).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from billing_client._types import PlanCheck

Key = tuple[str, str, str]
Clock = Callable[[], float]
_NEVER = float("inf")


@dataclass
class CacheStats:
    """Counters of a cache, read at any time (``snapshot()`` copies them).

    ``rpcs`` counts CheckPlan calls made on a miss; ``shared`` the callers that
    waited for another caller's call instead of making their own; the
    ``fallback_*`` counters the answers given by a failure policy while the
    billing service was unreachable.
    """

    hits: int = 0
    misses: int = 0
    rpcs: int = 0
    shared: int = 0
    evictions: int = 0
    invalidations: int = 0
    fallback_stale: int = 0
    fallback_fail_open: int = 0
    fallback_fail_closed: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)

    @property
    def fallbacks(self) -> dict[str, int]:
        """Fallbacks by policy: "stale", "fail_open", "fail_closed"."""
        return {
            "stale": self.fallback_stale,
            "fail_open": self.fallback_fail_open,
            "fail_closed": self.fallback_fail_closed,
        }


class _Entry:
    __slots__ = ("check", "expires_at", "hard_until")

    def __init__(self, check: PlanCheck, expires_at: float, hard_until: float) -> None:
        self.check = check
        self.expires_at = expires_at
        self.hard_until = hard_until


class _Flight:
    """One CheckPlan call in progress that other callers for the key wait for."""

    __slots__ = ("done", "error", "invalidated", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: PlanCheck | None = None
        self.error: BaseException | None = None
        self.invalidated = False


class _AsyncFlight:
    __slots__ = ("invalidated", "task")

    def __init__(self, task: asyncio.Task[PlanCheck]) -> None:
        self.task = task
        self.invalidated = False


def _hard_bound(check: PlanCheck) -> float:
    """The earliest time the server says this answer may stop holding."""
    bounds = [
        moment.timestamp()
        for moment in (check.valid_until, check.grace_period_end, check.current_period_end)
        if moment is not None
    ]
    return min(bounds, default=_NEVER)


class PlanCache:
    """LRU cache of CheckPlan answers, safe to share between threads and tasks.

    ``ttl`` is how long an answer is reused (None: until ``invalidate`` or
    the answer's own bounds, for callers that receive change notifications);
    ``max_entries`` bounds memory. ``clock`` returns seconds since the epoch;
    it is wall-clock time because the bounds the server sends are wall-clock
    times (tests inject their own).
    """

    def __init__(
        self, *, ttl: float | None = 5.0, max_entries: int = 10_000, clock: Clock = time.time
    ) -> None:
        if ttl is not None and ttl < 0:
            raise ValueError("ttl must be >= 0 or None")
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._by_account: dict[str, set[Key]] = {}
        self._flights: dict[Key, _Flight] = {}
        self._async_flights: dict[Key, _AsyncFlight] = {}

    def __len__(self) -> int:
        return len(self._entries)

    # Reading ---------------------------------------------------------------

    def _fresh(self, key: Key, now: float) -> PlanCheck | None:
        entry = self._entries.get(key)
        if entry is not None and now < entry.expires_at:
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry.check
        return None

    def get(self, key: Key) -> PlanCheck | None:
        """The fresh answer for ``key`` or None (counted as a hit or a miss)."""
        with self._lock:
            found = self._fresh(key, self._clock())
            if found is None:
                self.stats.misses += 1
            return found

    def get_stale(self, key: Key, max_stale: float) -> tuple[PlanCheck, float] | None:
        """The last answer and how many seconds past its freshness it is, when
        that is at most ``max_stale`` and the answer's own bounds have not passed."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            now = self._clock()
            age = max(0.0, now - entry.expires_at)
            if age > max_stale or now >= entry.hard_until:
                return None
            return entry.check, age

    # Writing ---------------------------------------------------------------

    def put(self, key: Key, check: PlanCheck) -> None:
        with self._lock:
            self._store(key, check)

    def _store(self, key: Key, check: PlanCheck) -> None:
        now = self._clock()
        hard = _hard_bound(check)
        expires = hard if self.ttl is None else min(now + self.ttl, hard)
        self._entries[key] = _Entry(check, expires, hard)
        self._entries.move_to_end(key)
        self._by_account.setdefault(key[0], set()).add(key)
        while len(self._entries) > self.max_entries:
            old, _ = self._entries.popitem(last=False)
            self._forget(old)
            self.stats.evictions += 1

    def _forget(self, key: Key) -> None:
        keys = self._by_account.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_account[key[0]]

    def invalidate(self, account_id: str) -> int:
        """Drops every answer about the account, including calls in flight
        (their answers are returned but not stored). Returns how many entries."""
        with self._lock:
            keys = self._by_account.pop(account_id, set())
            for key in keys:
                del self._entries[key]
            for key, flight in self._flights.items():
                if key[0] == account_id:
                    flight.invalidated = True
            for key, async_flight in self._async_flights.items():
                if key[0] == account_id:
                    async_flight.invalidated = True
            self.stats.invalidations += len(keys)
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_account.clear()
            for flight in self._flights.values():
                flight.invalidated = True
            for async_flight in self._async_flights.values():
                async_flight.invalidated = True

    def count(self, counter: str) -> None:
        with self._lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    # Loading, one call per key at a time ------------------------------------

    def get_or_load(self, key: Key, fetch: Callable[[], PlanCheck]) -> PlanCheck:
        """The fresh answer, or the result of ``fetch()`` shared by every thread
        asking for the same key meanwhile (errors are shared too)."""
        with self._lock:
            found = self._fresh(key, self._clock())
            if found is not None:
                return found
            self.stats.misses += 1
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
                self.stats.rpcs += 1
            else:
                self.stats.shared += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result
        try:
            flight.result = fetch()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.result is not None and not flight.invalidated:
                    self._store(key, flight.result)
            flight.done.set()
        return flight.result

    async def get_or_load_async(
        self, key: Key, fetch: Callable[[], Awaitable[PlanCheck]]
    ) -> PlanCheck:
        """Like ``get_or_load`` for coroutines: concurrent tasks share one call.

        The call runs in its own task, so a caller that is cancelled does not
        cancel the others' answer.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._fresh(key, self._clock())
            if found is not None:
                return found
            self.stats.misses += 1
            flight = self._async_flights.get(key)
            if flight is not None and flight.task.get_loop() is loop:
                self.stats.shared += 1
            else:
                flight = _AsyncFlight(loop.create_task(self._load_async(key, fetch)))
                flight.task.add_done_callback(_retrieve)
                self._async_flights[key] = flight
                self.stats.rpcs += 1
        return await asyncio.shield(flight.task)

    async def _load_async(self, key: Key, fetch: Callable[[], Awaitable[PlanCheck]]) -> PlanCheck:
        result: PlanCheck | None = None
        try:
            result = await fetch()
            return result
        finally:
            with self._lock:
                flight = self._async_flights.get(key)
                if flight is not None and flight.task is asyncio.current_task():
                    del self._async_flights[key]
                    if result is not None and not flight.invalidated:
                        self._store(key, result)


def _retrieve(task: asyncio.Task[PlanCheck]) -> None:
    # Marks the error as seen: when every waiter was cancelled nobody else
    # would, and asyncio would log "exception was never retrieved".
    if not task.cancelled():
        task.exception()
