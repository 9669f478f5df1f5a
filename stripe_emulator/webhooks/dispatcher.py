"""Delivering recorded events to webhook endpoints, in the background.

The event log calls `on_event` under the store lock; it only queues. A
worker thread of our own runs an asyncio loop that POSTs queued deliveries
with its own httpx client, so an API request never waits for a receiver,
and counts each acknowledgment off the event's `pending_webhooks`.

Locks: the store lock may be held when the queue's lock is taken, never
the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

import httpx

from stripe_emulator.jsontypes import JSON
from stripe_emulator.store import Store
from stripe_emulator.webhooks import targets
from stripe_emulator.webhooks.queue import Delivery, DeliveryQueue, Send
from stripe_emulator.webhooks.settings import RetryPolicy, WebhookSettings
from stripe_emulator.webhooks.signing import delivery_headers
from stripe_emulator.webhooks.targets import Target

_STARTUP_TIMEOUT_S = 5.0


class WebhookDispatcher:
    def __init__(self, store: Store, settings: WebhookSettings | None = None) -> None:
        self._store = store
        self._startup: Target | None = None
        self.policy = RetryPolicy()
        self.configure(settings or WebhookSettings())
        self._worker_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self.queue = DeliveryQueue(on_change=self._poke)
        # Endpoints that have not acknowledged each event (guarded by the store lock).
        self._awaiting: dict[str, set[str]] = {}

    def configure(self, settings: WebhookSettings) -> None:
        """Set the start-up endpoint (url and secret) and the retry policy."""
        if (settings.url is None) != (settings.secret is None):
            raise ValueError("a start-up webhook endpoint needs both a url and a secret")
        self.policy = settings.retry
        self._startup = None
        if settings.url is not None and settings.secret is not None:
            self._startup = Target(targets.STARTUP, settings.url, settings.secret)
        self._register_startup()

    def _register_startup(self) -> None:
        # Stored like any endpoint, so that the API lists it: a client that
        # looks for an endpoint at its URL (billing-admin webhook setup) finds
        # it instead of registering a second one that delivers every event twice.
        with self._store.lock:
            if self._store.get("webhook_endpoint", targets.STARTUP) is not None:
                self._store.delete("webhook_endpoint", targets.STARTUP)
            if self._startup is not None:
                self._store.insert(targets.startup_endpoint(self._startup, self._store.clock.now()))

    def on_event(self, event: JSON) -> None:
        """EventLog listener, called under the store lock: count and queue."""
        matching = self._targets_for(event["type"])
        event["pending_webhooks"] = len(matching)
        if matching:
            self._awaiting[event["id"]] = {target.key for target in matching}
            self._enqueue(event, matching)

    def resend(self, event: JSON) -> list[str]:
        """Deliver `event` again to every matching endpoint (caller holds the store lock)."""
        matching = self._targets_for(event["type"])
        self._enqueue(event, matching)
        return [target.url for target in matching]

    def reset(self) -> None:
        """Forget queued and awaited deliveries (caller holds the store lock)."""
        self._awaiting.clear()
        self.queue.reset()
        self._register_startup()

    def close(self) -> None:
        """Stop the worker thread; it starts again when an event needs it."""
        with self._worker_lock:
            thread, self._stopping = self._thread, True
        self._poke()
        if thread is not None:
            thread.join(timeout=_STARTUP_TIMEOUT_S)
        with self._worker_lock:
            self._thread, self._loop, self._wake = None, None, None

    def _targets_for(self, event_type: str) -> list[Target]:
        return [t for t in targets.registered(self._store) if t.accepts(event_type)]

    def _enqueue(self, event: JSON, matching: list[Target]) -> None:
        if not matching:
            return
        payload = json.dumps(event, indent=2).encode()
        deliveries = [Delivery(event["id"], event["type"], t, payload) for t in matching]
        if self.queue.add(deliveries):
            self._start_worker()
            self._poke()

    # -- the worker thread ---------------------------------------------------

    def _start_worker(self) -> None:
        """Start the worker on first use: no thread until an event needs one."""
        with self._worker_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            ready = threading.Event()
            self._stopping = False
            self._thread = threading.Thread(
                target=lambda: asyncio.run(self._main(ready)),
                name="stripe-emulator-webhooks",
                daemon=True,
            )
            self._thread.start()
            if not ready.wait(_STARTUP_TIMEOUT_S):
                raise RuntimeError("the webhook delivery thread did not start")

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            # RuntimeError: the loop has just closed because close() is running.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    async def _main(self, ready: threading.Event) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        running: set[asyncio.Task[None]] = set()
        # trust_env=False: a proxy from the environment must not intercept loopback.
        async with httpx.AsyncClient(trust_env=False) as client:
            ready.set()
            while not self._stopping:
                await self._wake.wait()
                self._wake.clear()
                for send, delay_s in self.queue.take_ready():
                    task = asyncio.create_task(self._deliver(client, send, delay_s))
                    running.add(task)
                    task.add_done_callback(running.discard)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _deliver(self, client: httpx.AsyncClient, send: Send, delay_s: float) -> None:
        status: int | str | None = "error"
        error: str | None = None
        target = send.delivery.target
        try:
            if delay_s:
                await asyncio.sleep(delay_s)
            if not targets.still_enabled(self._store, target):
                status = None
            else:
                # Wall time, not the emulator clock: receivers check the
                # signature timestamp against their own clock (300 s tolerance).
                stamp = int(time.time())
                response = await client.post(
                    target.url,
                    content=send.delivery.payload,
                    headers=delivery_headers(send.delivery.payload, target.secret, stamp),
                    timeout=self.policy.timeout_s,
                )
                status = response.status_code
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused, reset, timed out, bad URL: all "error"
            error = f"{type(exc).__name__}: {exc}"
        if isinstance(status, int) and 200 <= status < 300:
            # Before the lane is freed: a flush that returns must see the event acknowledged.
            self._acknowledge(send.delivery)
        retry = self.queue.finish(send, status, error, self.policy)
        if retry is not None:
            asyncio.get_running_loop().call_later(retry.delay_s, self.queue.retry_due, retry)

    def _acknowledge(self, delivery: Delivery) -> None:
        """The endpoint answered 2xx: one fewer `pending_webhooks` on the event."""
        with self._store.lock:
            awaiting = self._awaiting.get(delivery.event_id)
            if awaiting is None or delivery.target.key not in awaiting:
                return
            awaiting.discard(delivery.target.key)
            if not awaiting:
                del self._awaiting[delivery.event_id]
            event = self._store.get("event", delivery.event_id)
            if event is not None:
                event["pending_webhooks"] = len(awaiting)
