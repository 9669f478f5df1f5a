"""Keeps a PlanCache fresh from the WatchEntitlements stream, in a daemon thread.

The stream says when an account's billing state changed (drop its answers)
or that the server lost track (drop every answer). When it breaks, the
watcher reconnects with backoff and the last resume token, so that the
server replays what was missed; until then the cache is back on its TTL.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from billing.v1 import billing_pb2
from billing_client._cache import PlanCache

log = logging.getLogger("billing_client")

DEFAULT_WATCH_TTL = 60.0
# The server sends a heartbeat about every 15 s: two missed ones and some
# slack mean the connection is dead even if TCP has not noticed.
DEFAULT_HEARTBEAT_TIMEOUT = 35.0

# Answers that will not change by retrying soon: wait the longest backoff.
_PERSISTENT = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INVALID_ARGUMENT,
}


@dataclass(frozen=True)
class WatchSettings:
    """How a watch behaves (see ``BillingClient.watch_entitlements``)."""

    watch_ttl: float = DEFAULT_WATCH_TTL
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    initial_backoff: float = 0.5
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if self.heartbeat_timeout <= 0 or self.initial_backoff <= 0:
            raise ValueError("heartbeat_timeout and initial_backoff must be > 0")
        if self.max_backoff < self.initial_backoff:
            raise ValueError("max_backoff must be >= initial_backoff")

    def backoff(self, failures: int, code: grpc.StatusCode | None) -> float:
        """Exponential, with jitter so that a fleet of clients cut off by one
        server restart does not reconnect in lockstep."""
        if code in _PERSISTENT:
            ceiling = self.max_backoff
        else:
            ceiling = min(self.max_backoff, self.initial_backoff * 2 ** max(0, failures - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class Notices:
    """Applies stream messages to the cache and remembers where to resume."""

    def __init__(self, cache: PlanCache, settings: WatchSettings) -> None:
        self.cache = cache
        self.settings = settings
        self.resume_token = ""

    def request(self) -> billing_pb2.WatchEntitlementsRequest:
        return billing_pb2.WatchEntitlementsRequest(resume_token=self.resume_token)

    def apply(self, response: billing_pb2.WatchEntitlementsResponse, *, first: bool) -> None:
        kind = response.WhichOneof("notice")
        if kind == "change":
            self.cache.count("notices")
            self.cache.invalidate(
                response.change.account_id, below_version=response.change.state_version
            )
        elif kind == "reset":
            self.cache.count("resets")
            log.warning("billing watch: the server lost track of changes; cache cleared")
            self.cache.clear()
        # Trusted only once applied: an answer stored after this point will
        # see its next change notified.
        self.cache.watch_alive(self.settings.heartbeat_timeout, new_connection=first)
        if response.resume_token:
            self.resume_token = response.resume_token

    def broke(self, error: BaseException | None, failures: int) -> float:
        """Records a broken stream; returns how long to wait before reconnecting."""
        self.cache.watch_lost()
        self.cache.count("reconnects")
        code = error.code() if isinstance(error, grpc.RpcError) else None
        delay = self.settings.backoff(failures, code)
        log.warning(
            "billing watch: stream ended (%s); reconnecting in %.2fs%s",
            code.name if code is not None else "no error" if error is None else repr(error),
            delay,
            " with a resume token" if self.resume_token else "",
        )
        return delay


class EntitlementWatch(Protocol):
    """A running watch (``BillingClient.watch_entitlements``)."""

    @property
    def connected(self) -> bool:
        """Whether the stream is up and notices can arrive."""
        ...

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Blocks until the stream is up; False on timeout."""
        ...

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ends the stream and the thread; the cache is back on its TTL."""
        ...


class ThreadedWatch:
    """The sync client's watch: one daemon thread reading the stream."""

    def __init__(
        self,
        cache: PlanCache,
        open_stream: Callable[[billing_pb2.WatchEntitlementsRequest], Any],
        settings: WatchSettings,
    ) -> None:
        self._notices = Notices(cache, settings)
        self._open = open_stream
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._call: Any = None
        self._last_message = 0.0
        cache.watch_started(settings.watch_ttl)
        self._thread = threading.Thread(target=self._run, name="billing-watch", daemon=True)
        self._thread.start()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def resume_token(self) -> str:
        return self._notices.resume_token

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            error: BaseException | None = None
            try:
                self._stream()
            except grpc.RpcError as exc:
                error = exc
            except Exception as exc:  # the watch must outlive a bug or a bad message
                log.exception("billing watch: unexpected error")
                error = exc
            if self._connected.is_set():  # it worked for a while: start over
                failures = 0
                self._connected.clear()
            if self._stopping.is_set():
                break
            failures += 1
            self._stopping.wait(self._notices.broke(error, failures))
        self._notices.cache.watch_lost(stopped=True)

    def _stream(self) -> None:
        """Reads one stream to its end."""
        call = self._open(self._notices.request())
        with self._lock:
            if self._stopping.is_set():
                call.cancel()
                return
            self._call = call
        self._last_message = time.monotonic()
        ended = threading.Event()
        watchdog = threading.Thread(
            target=self._watchdog, args=(call, ended), name="billing-watch-liveness", daemon=True
        )
        watchdog.start()
        delivered = False
        try:
            for response in call:
                self._last_message = time.monotonic()
                self._notices.apply(response, first=not delivered)
                if not delivered:
                    delivered = True
                    self._connected.set()
                    log.info("billing watch: connected")
        finally:
            with self._lock:
                self._call = None
            call.cancel()
            ended.set()
            watchdog.join()

    def _watchdog(self, call: Any, ended: threading.Event) -> None:
        # A stream silent past the heartbeat timeout is dead even when TCP
        # has not noticed; cancelling it makes the reader reconnect.
        timeout = self._notices.settings.heartbeat_timeout
        while not ended.is_set():
            silent = time.monotonic() - self._last_message
            if silent >= timeout:
                log.warning("billing watch: no message for %.1fs; reconnecting", silent)
                call.cancel()
                return
            ended.wait(timeout - silent)
