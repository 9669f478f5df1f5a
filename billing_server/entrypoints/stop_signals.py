"""SIGTERM and SIGINT, received without taking a lock.

A Python signal handler runs in the main thread, between two bytecodes of
whatever that thread was doing. If it sets a `threading.Event` while the main
thread is inside that event's `wait()` holding the event's lock, it waits for
a lock its own thread holds, and the process hangs until SIGKILL. So the
handler only puts the signal on a `queue.SimpleQueue`, whose `put` is
reentrant (documented as safe in signal handlers), and the main thread takes
it from there.
"""

from __future__ import annotations

import queue
import signal
from types import FrameType

STOP = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Installs handlers for SIGTERM and SIGINT; `wait()` returns one."""

    def __init__(self) -> None:
        self._received: queue.SimpleQueue[int] = queue.SimpleQueue()
        for signum in STOP:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self._received.put_nowait(signum)

    def wait(self, timeout_s: float | None = None) -> int | None:
        """The signal received (the first one, if several), or None when
        `timeout_s` passed first."""
        try:
            return self._received.get(timeout=timeout_s)
        except queue.Empty:
            return None
