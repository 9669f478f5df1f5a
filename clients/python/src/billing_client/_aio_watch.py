"""The asyncio client's entitlement watch: the same loop as ``_watch``, in a task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import grpc

from billing.v1 import billing_pb2
from billing_client._cache import PlanCache
from billing_client._watch import Notices, WatchSettings

log = logging.getLogger("billing_client")


class AsyncEntitlementWatch(Protocol):
    """A running watch (``AsyncBillingClient.watch_entitlements``)."""

    @property
    def connected(self) -> bool:
        """Whether the stream is up and notices can arrive."""
        ...

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """Waits until the stream is up; False on timeout."""
        ...

    async def stop(self) -> None:
        """Ends the stream and the task; the cache is back on its TTL."""
        ...


class TaskWatch:
    """Reads the stream in a task of the running event loop."""

    def __init__(
        self,
        cache: PlanCache,
        open_stream: Callable[[billing_pb2.WatchEntitlementsRequest], Any],
        settings: WatchSettings,
    ) -> None:
        self._notices = Notices(cache, settings)
        self._open = open_stream
        self._connected = asyncio.Event()
        cache.watch_started(settings.watch_ttl)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="billing-watch")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def resume_token(self) -> str:
        return self._notices.resume_token

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        failures = 0
        try:
            while True:
                error: BaseException | None = None
                try:
                    await self._stream()
                except (grpc.RpcError, TimeoutError) as exc:
                    error = exc
                except Exception as exc:  # the watch must outlive a bug or a bad message
                    log.exception("billing watch: unexpected error")
                    error = exc
                if self._connected.is_set():  # it worked for a while: start over
                    failures = 0
                    self._connected.clear()
                failures += 1
                await asyncio.sleep(self._notices.broke(error, failures))
        finally:
            self._connected.clear()
            self._notices.cache.watch_lost(stopped=True)

    async def _stream(self) -> None:
        """Reads one stream to its end."""
        call = self._open(self._notices.request())
        delivered = False
        try:
            while True:
                # A stream silent past the heartbeat timeout is dead even when
                # TCP has not noticed: give up on it and reconnect.
                async with asyncio.timeout(self._notices.settings.heartbeat_timeout):
                    response = await call.read()
                if response is grpc.aio.EOF:
                    return
                self._notices.apply(response, first=not delivered)
                if not delivered:
                    delivered = True
                    self._connected.set()
                    log.info("billing watch: connected")
        finally:
            call.cancel()
