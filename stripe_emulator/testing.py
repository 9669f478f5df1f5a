"""Running the emulator from tests, and driving its /_emulator helpers.

    with run_emulator() as emulator:                 # in a background thread
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": emulator.url})
        session = client.v1.checkout.sessions.create(...)
        emulator.control.complete_checkout(session.id)

`run_emulator_process()` does the same with `python -m stripe_emulator` in a
child process, for tests that want the emulator outside their interpreter.
Both can deliver every event as a signed webhook:

    with run_emulator(webhook_url=receiver_url, webhook_secret="whsec_x") as emulator:
        ...
        emulator.control.flush_webhooks()            # instead of sleeping
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from stripe_emulator.control_client import EmulatorControl, EmulatorControlError
from stripe_emulator.server import base_url, build_server
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks import RetryPolicy, WebhookSettings

__all__ = [
    "EmulatorControl",
    "EmulatorControlError",
    "RunningEmulator",
    "run_emulator",
    "run_emulator_process",
]

READY_PREFIX = "stripe-emulator listening on "


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
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_retry_base: float | None = None,
    webhook_timeout_s: float | None = None,
    webhook_max_attempts: int | None = None,
) -> Iterator[RunningEmulator]:
    """Serve the emulator in a background thread; port 0 picks a free port.

    `webhook_url` and `webhook_secret` add a start-up endpoint that receives
    every event; the `webhook_retry_*`/timeout arguments shorten retries.
    """
    state = state or EmulatorState()
    retry = _retry_policy(webhook_retry_base, webhook_timeout_s, webhook_max_attempts)
    if webhook_url is not None:
        state.configure_webhooks(WebhookSettings(webhook_url, webhook_secret, retry))
    elif retry != RetryPolicy():
        state.webhooks.policy = retry  # keeps a start-up endpoint `state` may have
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
        state.close()


def _retry_policy(
    base_s: float | None, timeout_s: float | None, max_attempts: int | None
) -> RetryPolicy:
    policy = RetryPolicy()
    if base_s is not None:
        policy = replace(policy, base_s=base_s)
    if timeout_s is not None:
        policy = replace(policy, timeout_s=timeout_s)
    if max_attempts is not None:
        policy = replace(policy, max_attempts=max_attempts)
    return policy


@contextmanager
def run_emulator_process(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    python: str = sys.executable,
    startup_timeout: float = 15.0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_retry_base: float | None = None,
    webhook_timeout_s: float | None = None,
    webhook_max_attempts: int | None = None,
) -> Iterator[RunningEmulator]:
    """Serve the emulator in a child process; yields once it prints its ready line."""
    command = [python, "-m", "stripe_emulator", "--host", host, "--port", str(port)]
    for flag, value in (
        ("--webhook-url", webhook_url),
        ("--webhook-secret", webhook_secret),
        ("--webhook-retry-base", webhook_retry_base),
        ("--webhook-timeout", webhook_timeout_s),
        ("--webhook-max-attempts", webhook_max_attempts),
    ):
        if value is not None:
            command += [flag, str(value)]
    process = subprocess.Popen(
        command,
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
