"""Running the emulator from tests, and driving its /_emulator helpers.

    with run_emulator() as emulator:                 # in a background thread
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": emulator.url})
        session = client.v1.checkout.sessions.create(...)
        emulator.control.complete_checkout(session.id)

`run_emulator_process()` does the same with `python -m stripe_emulator` in a
child process, for tests that want the emulator outside their interpreter.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from stripe_emulator.server import base_url, build_server
from stripe_emulator.state import EmulatorState

READY_PREFIX = "stripe-emulator listening on "

JSON = dict[str, Any]


class EmulatorControlError(Exception):
    """A /_emulator helper refused the request (e.g. completing a closed session)."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(f"{status}: {body.get('error', body)}")
        self.status = status
        self.body = body


class EmulatorControl:
    """A small client for the emulator's test-helper endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=f"{url}/_emulator", timeout=10.0)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: JSON | None = None) -> JSON:
        response = self._http.request(method, path, json=body)
        payload: JSON = response.json()
        if response.status_code >= 400:
            raise EmulatorControlError(response.status_code, payload)
        return payload

    def complete_checkout(self, session_id: str) -> JSON:
        """Pay the session as its customer would; returns the completed session."""
        return self._call("POST", f"/checkout/sessions/{session_id}/complete", {})

    def renew_subscription(self, subscription_id: str, outcome: str = "succeeded") -> JSON:
        """End the current period: "succeeded" bills it, "failed" leaves it past_due."""
        return self._call("POST", f"/subscriptions/{subscription_id}/renew", {"outcome": outcome})

    def advance_clock(self, seconds: int) -> int:
        """Move the emulator's clock forward; returns its new now (unix seconds)."""
        return int(self._call("POST", "/clock/advance", {"seconds": seconds})["now"])

    def now(self) -> int:
        return int(self._call("GET", "/clock")["now"])

    def request_counts(self) -> JSON:
        """`{"total", "by_route", "replayed_total", "replayed"}` since the last reset."""
        return self._call("GET", "/requests")

    def route_count(self, route: str) -> int:
        """How many times e.g. "POST /v1/customers" was received."""
        return int(self.request_counts()["by_route"].get(route, 0))

    def webhook_secret(self, endpoint_id: str) -> str:
        return str(self._call("GET", f"/webhook_endpoints/{endpoint_id}/secret")["secret"])

    def reset(self) -> None:
        self._call("POST", "/reset")

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "/healthz").get("ok"))
        except httpx.HTTPError:
            return False


@dataclass(frozen=True)
class RunningEmulator:
    url: str
    control: EmulatorControl
    state: EmulatorState | None  # None when it runs in another process


@contextmanager
def run_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    state: EmulatorState | None = None,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
) -> Iterator[RunningEmulator]:
    """Serve the emulator in a background thread; port 0 picks a free port."""
    state = state or EmulatorState()
    server = build_server(host, port, state=state, log_level=log_level)
    thread = threading.Thread(target=server.run, name="stripe-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"stripe emulator did not start on {host}:{port}")
        time.sleep(0.01)
    control = EmulatorControl(base_url(server))
    try:
        yield RunningEmulator(control.url, control, state)
    finally:
        control.close()
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def run_emulator_process(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    python: str = sys.executable,
    startup_timeout: float = 15.0,
) -> Iterator[RunningEmulator]:
    """Serve the emulator in a child process; yields once it prints its ready line."""
    process = subprocess.Popen(
        [python, "-m", "stripe_emulator", "--host", host, "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    # Reading on a thread keeps the pipe drained and lets startup time out.

    def drain() -> None:
        for line in stdout:
            lines.put(line)

    pump = threading.Thread(
        target=drain,
        name="stripe-emulator-stdout",
        daemon=True,
    )
    pump.start()
    try:
        url = _await_ready_line(process, lines, startup_timeout)
        control = EmulatorControl(url)
        try:
            yield RunningEmulator(url, control, None)
        finally:
            control.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        pump.join(timeout=5)
        stdout.close()


def _await_ready_line(
    process: subprocess.Popen[str], lines: queue.Queue[str], timeout: float
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.startswith(READY_PREFIX):
            return line[len(READY_PREFIX) :].strip()
    raise RuntimeError("stripe emulator process did not report that it was listening")
