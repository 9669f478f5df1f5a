"""An in-process cache of CheckPlan answers with single-flight loading.

Entries are keyed by (account id, "plan" | "feature", name). An entry is
fresh for ``ttl`` seconds but never beyond the answer's own bounds
(``valid_until``, the end of the paid-up period or of the grace period: the
server says the answer may change then). Past freshness an entry is kept, in
LRU order, so that a failure policy can serve it stale; ``invalidate`` drops
an account's entries when a change is known (for example on a push
notification, or after this process changed the subscription).

While an entitlement watch (``_watch.py``) is connected, an answer loaded
during that connection may stay fresh for the longer ``watch_ttl`` (still
never beyond its own bounds): a change would have been notified. The moment
the stream is known to be down, or has been silent past its liveness window,
every answer falls back to the plain ``ttl``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from billing_client._stats import CacheStats
from billing_client._types import PlanCheck

Key = tuple[str, str, str]
Clock = Callable[[], float]
_NEVER = float("inf")


class _Entry:
    __slots__ = ("check", "expires_at", "hard_until", "notified_until")

    def __init__(
        self, check: PlanCheck, expires_at: float, hard_until: float, notified_until: float
    ) -> None:
        self.check = check
        self.expires_at = expires_at
        self.hard_until = hard_until
        # Fresh until then too, but only while the watch is alive.
        self.notified_until = notified_until


class _Flight:
    """One CheckPlan call in progress that other callers for the key wait for."""

    __slots__ = ("connection", "done", "error", "invalidated", "result")

    def __init__(self, connection: int | None) -> None:
        self.done = threading.Event()
        self.result: PlanCheck | None = None
        self.error: BaseException | None = None
        self.invalidated = False
        # The watch connection live when the call started (None: none was).
        self.connection = connection


class _AsyncFlight:
    __slots__ = ("connection", "invalidated", "task")

    def __init__(self, task: asyncio.Task[PlanCheck], connection: int | None) -> None:
        self.task = task
        self.invalidated = False
        self.connection = connection


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

    The cache also remembers, for ``consistency_window`` seconds, the state
    version each of this client's own changes produced (``wrote``): checks
    send it as ``min_state_version``, so that a replica which has not heard
    of the change yet reads it from the database (read-your-writes).
    """

    def __init__(
        self,
        *,
        ttl: float | None = 5.0,
        max_entries: int = 10_000,
        clock: Clock = time.time,
        consistency_window: float = 60.0,
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
        # The entitlement watch's view: how long answers may live while it
        # is connected, which connection is live, and until when it is
        # trusted (the clock's time of its last message + its liveness window).
        self._watch_ttl: float | None = None
        self._connection: int | None = None
        self._connections = 0
        self._live_until = 0.0
        self.consistency_window = consistency_window
        # account -> (state version written, clock time it was written)
        self._written: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def now(self) -> float:
        return self._clock()

    # Reading ---------------------------------------------------------------

    def _fresh(self, key: Key, now: float) -> PlanCheck | None:
        entry = self._entries.get(key)
        if entry is not None and (
            now < entry.expires_at or (now < entry.notified_until and now < self._live_until)
        ):
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
        """Stores an answer for the plain TTL (not knowing when it was read,
        the cache cannot tell whether a watch would have seen it change)."""
        with self._lock:
            self._store(key, check, None)

    def _store(self, key: Key, check: PlanCheck, connection: int | None) -> None:
        now = self._clock()
        hard = _hard_bound(check)
        expires = hard if self.ttl is None else min(now + self.ttl, hard)
        notified = 0.0
        # Only an answer read after the live connection started is sure to
        # be followed by a notice of its next change.
        if (
            connection is not None
            and connection == self._connection
            and self._watch_ttl is not None
            and now < self._live_until
        ):
            notified = min(now + self._watch_ttl, hard)
        self._entries[key] = _Entry(check, expires, hard, notified)
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

    def wrote(self, account_id: str, state_version: int) -> None:
        """This client changed the account, reaching ``state_version``: its
        answers are dropped, and checks ask for at least that version."""
        with self._lock:
            previous = self._written.pop(account_id, (0, 0.0))[0]
            self._written[account_id] = (max(previous, state_version), self._clock())
            while len(self._written) > self.max_entries:
                self._written.popitem(last=False)
        self.invalidate(account_id)

    def min_state_version(self, account_id: str) -> int:
        """The version a check for the account must reach (0: any)."""
        with self._lock:
            found = self._written.get(account_id)
            if found is None:
                return 0
            if self._clock() - found[1] > self.consistency_window:
                del self._written[account_id]  # every replica has heard by now
                return 0
            return found[0]

    def invalidate(self, account_id: str, *, below_version: int | None = None) -> int:
        """Drops every answer about the account, including calls in flight
        (their answers are returned but not stored). Returns how many entries.

        With ``below_version`` (from a change notice), answers already at
        that state version or later are kept."""
        with self._lock:
            keys = self._by_account.pop(account_id, set())
            if below_version is not None:
                kept = {k for k in keys if self._entries[k].check.state_version >= below_version}
                if kept:
                    self._by_account[account_id] = kept
                keys -= kept
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

    # The entitlement watch ---------------------------------------------------

    def watch_started(self, watch_ttl: float) -> None:
        """A watch now feeds this cache; ``watch_ttl`` applies while it is live."""
        if watch_ttl < 0:
            raise ValueError("watch_ttl must be >= 0")
        with self._lock:
            self._watch_ttl = watch_ttl

    def watch_alive(self, live_for: float, *, new_connection: bool) -> None:
        """The watch received a message: trust it for ``live_for`` more seconds."""
        with self._lock:
            if new_connection:
                self._connections += 1
                self._connection = self._connections
            self._live_until = self._clock() + live_for

    def watch_lost(self, *, stopped: bool = False) -> None:
        """The stream is down: every answer falls back to the plain TTL.

        The extension is dropped for good, not just while disconnected: the
        next connection may deliver what was missed a moment after its first
        message, and answers must not be served past the TTL meanwhile."""
        with self._lock:
            self._connection = None
            self._live_until = 0.0
            if stopped:
                self._watch_ttl = None
            for entry in self._entries.values():
                entry.notified_until = 0.0

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
                flight = self._flights[key] = _Flight(self._connection)
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
                    self._store(key, flight.result, flight.connection)
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
                flight = _AsyncFlight(
                    loop.create_task(self._load_async(key, fetch)), self._connection
                )
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
                        self._store(key, result, flight.connection)


def _retrieve(task: asyncio.Task[PlanCheck]) -> None:
    # Marks the error as seen: when every waiter was cancelled nobody else
    # would, and asyncio would log "exception was never retrieved".
    if not task.cancelled():
        task.exception()
