"""The deliveries waiting to go out, per endpoint, and what tests can do to them.

Each endpoint has a lane: one delivery in flight at a time, in the order
events were recorded. A failed attempt comes back to the end of its lane
once its retry is due, while the events behind it go out, as Stripe does, so
retries arrive out of order. Thread-safe: API threads add and steer, the
delivery thread takes and finishes; `on_change` wakes the delivery thread.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from stripe_emulator.jsontypes import JSON
from stripe_emulator.webhooks.log import Attempt, DeliveryLog
from stripe_emulator.webhooks.settings import Chaos, RetryPolicy
from stripe_emulator.webhooks.targets import Target


@dataclass
class Delivery:
    """One event for one endpoint; its retries and duplicates share it."""

    event_id: str
    event_type: str
    target: Target
    payload: bytes  # exactly what is signed and sent, on every attempt
    acknowledged: bool = False


@dataclass(frozen=True)
class Send:
    delivery: Delivery
    attempt: int
    generation: int
    duplicate: bool = False


@dataclass(frozen=True)
class Retry:
    token: int
    delay_s: float
    send: Send


@dataclass
class _Lane:
    queue: deque[Send] = field(default_factory=deque)
    busy: bool = False


class DeliveryQueue:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._cond = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._retries: dict[int, float] = {}  # token -> when it is due (monotonic)
        self._tokens = count()
        self._paused = False
        self._chaos = Chaos()
        self._log = DeliveryLog()
        # A reset forgets queued work; sends in flight then finish unrecorded.
        self._generation = 0

    def add(self, deliveries: list[Delivery]) -> bool:
        """Queue each delivery (and its chaos duplicates); False if chaos drops them."""
        with self._cond:
            if self._chaos.drop:
                self._log.dropped += len(deliveries)
                return False
            for delivery in deliveries:
                lane = self._lanes.setdefault(delivery.target.key, _Lane())
                lane.queue.append(Send(delivery, 1, self._generation))
                for _ in range(self._chaos.duplicate):
                    lane.queue.append(Send(delivery, 1, self._generation, duplicate=True))
        self._on_change()
        return True

    # -- test controls -------------------------------------------------------

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()
        self._on_change()

    def set_chaos(self, chaos: Chaos) -> None:
        with self._cond:
            self._chaos = chaos

    def chaos(self) -> Chaos:
        with self._cond:
            return self._chaos

    def reset(self) -> None:
        """Forget queued work, due retries, the log, chaos and pause."""
        with self._cond:
            self._generation += 1
            self._lanes.clear()
            self._retries.clear()
            self._log = DeliveryLog()
            self._chaos = Chaos()
            self._paused = False
            self._cond.notify_all()

    def deliveries(self) -> JSON:
        with self._cond:
            return {"deliveries": self._log.attempts(), "summary": self._summary()}

    def summary(self) -> JSON:
        with self._cond:
            return self._summary()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until nothing is queued, in flight or due for retry within
        `timeout_s`; False if that did not happen (paused, or still busy)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                queued = any(lane.queue for lane in self._lanes.values())
                in_flight = any(lane.busy for lane in self._lanes.values())
                retries_in_time = any(due <= deadline for due in self._retries.values())
                if not (queued or in_flight or retries_in_time):
                    return not self._retries
                if self._paused and not in_flight:
                    return False  # nothing can move until resumed
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def _summary(self) -> JSON:
        queued = sum(len(lane.queue) for lane in self._lanes.values())
        in_flight = sum(lane.busy for lane in self._lanes.values())
        return {
            "pending": queued + in_flight + len(self._retries),
            "queued": queued,
            "in_flight": in_flight,
            "retrying": len(self._retries),
            "succeeded": self._log.succeeded,
            "failed_attempts": self._log.failed_attempts,
            "dropped": self._log.dropped,
            "paused": self._paused,
        }

    # -- the delivery thread's side ------------------------------------------

    def take_ready(self) -> list[tuple[Send, float]]:
        """The next send of every idle lane, with the chaos delay; none while paused."""
        with self._cond:
            if self._paused:
                return []
            taken = []
            for lane in self._lanes.values():
                if lane.busy or not lane.queue:
                    continue
                if self._chaos.shuffle and len(lane.queue) > 1:
                    # Never the oldest when there is a choice: events queued
                    # together (while paused) then always arrive out of order.
                    index = random.randrange(1, len(lane.queue))
                    send = lane.queue[index]
                    del lane.queue[index]
                else:
                    send = lane.queue.popleft()
                lane.busy = True
                taken.append((send, self._chaos.delay_s))
            return taken

    def finish(
        self, send: Send, status: int | str | None, error: str | None, policy: RetryPolicy
    ) -> Retry | None:
        """Free the lane and log the attempt (status None: not sent after all);
        answers the retry to schedule, if one is due."""
        delivery = send.delivery
        retry: Retry | None = None
        with self._cond:
            lane = self._lanes.get(delivery.target.key)
            current = send.generation == self._generation and lane is not None
            if lane is not None and current:
                lane.busy = False
            if current and status is not None:
                attempt = Attempt(
                    event_id=delivery.event_id,
                    event_type=delivery.event_type,
                    endpoint_id=delivery.target.key,
                    endpoint_url=delivery.target.url,
                    attempt=send.attempt,
                    status=status,
                    delivered_at=time.time(),
                    duplicate=send.duplicate,
                    error=error,
                )
                self._log.add(attempt)
                if attempt.succeeded:
                    delivery.acknowledged = True
                elif not send.duplicate and send.attempt < policy.max_attempts:
                    delay = policy.delay_after(send.attempt)
                    retry = Retry(
                        next(self._tokens),
                        delay,
                        Send(delivery, send.attempt + 1, send.generation),
                    )
                    self._retries[retry.token] = time.monotonic() + delay
            self._cond.notify_all()
        self._on_change()
        return retry

    def retry_due(self, retry: Retry) -> None:
        with self._cond:
            if self._retries.pop(retry.token, None) is None:
                return  # forgotten by a reset
            # A copy that got through in the meantime (a duplicate) ends the retries.
            if not retry.send.delivery.acknowledged:
                lane = self._lanes.setdefault(retry.send.delivery.target.key, _Lane())
                lane.queue.append(retry.send)
            self._cond.notify_all()
        self._on_change()
