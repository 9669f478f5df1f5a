"""`make dev` started as a new user starts it, on free ports of this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.services import free_port

ROOT = Path(__file__).resolve().parents[2]
UP_LINE = "paymentsvc is up"


@dataclass
class DevStack:
    env: dict[str, str]
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def grpc_address(self) -> str:
        return self.env["PAYMENTSVC_GRPC_ADDRESS"]

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PAYMENTSVC_EMULATOR_PORT']}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PAYMENTSVC_GATEWAY_PORT']}"

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, text: str, timeout_s: float) -> bool:
        """True once a line contains `text`; False when make dev exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            if self.process.poll() is not None:
                time.sleep(0.2)  # the reader thread's last lines
                return any(text in line for line in self.lines)
            time.sleep(0.05)
        raise TimeoutError(f"no {text!r} within {timeout_s}s:\n{self.output()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def dev_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Free ports for every process and a database of the test's own."""
    return {
        "PAYMENTSVC_GRPC_ADDRESS": f"127.0.0.1:{free_port()}",
        "PAYMENTSVC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "PAYMENTSVC_GATEWAY_PORT": str(free_port()),
        "PAYMENTSVC_EMULATOR_PORT": str(free_port()),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'dev.db'}",
        **overrides,
    }


def _clean_environment() -> dict[str, str]:
    # As from a fresh shell: nothing of the test run's own configuration.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAYMENTSVC_", "STRIPE_", "SQLALCHEMY_", "JWT_", "OTEL_"))
    }


@contextmanager
def make_dev(env: Mapping[str, str]) -> Iterator[DevStack]:
    process = subprocess.Popen(
        ["make", "--no-print-directory", "dev"],
        cwd=ROOT,
        env={**_clean_environment(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack = DevStack(dict(env), process)
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            stack.lines.append(line)

    reader = threading.Thread(target=read, name="make-dev-output", daemon=True)
    reader.start()
    try:
        yield stack
    finally:
        stack.stop()
        reader.join(timeout=5)
        stdout.close()
