"""Group commit: many threads' writes, one transaction per batch.

A commit costs the same for one row as for fifty (PostgreSQL waits for its
write-ahead log to reach the disk either way), so concurrent callers hand
their item to one writer thread and wait. The writer takes whatever has
queued up, lingers a couple of milliseconds for more while load lasts, runs
the batch in one call, and answers each caller only after that call is done.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

from billing_server.domain.errors import Unavailable

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)

# An item and the future its caller waits on.
_Entry = tuple[T, Future[R]]


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        run: Callable[[list[T]], list[R]],
        *,
        linger_s: float = 0.002,
        max_batch: int = 256,
        name: str = "group-commit",
    ) -> None:
        self._run = run
        self._linger_s = linger_s
        self._max_batch = max_batch
        self._name = name
        # None is the writer's signal to stop.
        self._queue: queue.SimpleQueue[_Entry[T, R] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Callers waiting for their batch to be written."""
        return self._waiting

    def submit(self, item: T, timeout_s: float | None = None) -> R:
        """Runs `item` in the next batch and returns its result (or raises its
        error). Unavailable when no answer comes within `timeout_s`."""
        done: Future[R] = Future()
        with self._lock:
            if self._closed:
                raise Unavailable("the server is shutting down; retry", reason="SHUTTING_DOWN")
            self._start()
            self._queue.put((item, done))
            self._waiting += 1
        try:
            return done.result(timeout=timeout_s)
        except FutureTimeout:
            raise Unavailable("the write was not confirmed in time; retry") from None
        finally:
            with self._lock:
                self._waiting -= 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Runs what is queued, then stops the writer."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is not None:
            thread.join(timeout_s)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._write, name=self._name, daemon=True)
            self._thread.start()

    def _write(self) -> None:
        lingering = False
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = self._gather(batch, lingering)
            # Load shows as company in the queue: then it pays to wait for more.
            lingering = len(batch) > 1
            self._run_batch(batch)
            if stop:
                return

    def _gather(self, batch: list[_Entry[T, R]], linger: bool) -> bool:
        """Adds what is queued (and, when lingering, what arrives meanwhile)."""
        until = time.monotonic() + (self._linger_s if linger else 0.0)
        while len(batch) < self._max_batch:
            left = until - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _run_batch(self, batch: list[_Entry[T, R]]) -> None:
        try:
            results = self._run([item for item, _ in batch])
        except Unavailable as exc:
            # The database is away: every caller hears so, and Stripe retries.
            for _, done in batch:
                done.set_exception(exc)
            return
        except Exception:
            if len(batch) == 1:
                log.exception("%s: a write failed", self._name)
                batch[0][1].set_exception(Unavailable("the write failed; retry"))
                return
            # One bad item must not sink the others: each on its own.
            for entry in batch:
                self._run_batch([entry])
            return
        for (_, done), result in zip(batch, results, strict=True):
            done.set_result(result)
