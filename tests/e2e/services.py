"""Starting the service's real processes on loopback for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
import httpx

BIN = Path(sys.executable).parent


class BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds a service token to every call of a channel."""

    def __init__(self, token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = (*(details.metadata or ()), *self._metadata)
        return continuation(details._replace(metadata=metadata), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return self.intercept_unary_unary(continuation, details, request)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What a check may meet while a process starts, stops or reconnects; any
# other error is the test's to see.
NOT_YET = (grpc.RpcError, httpx.TransportError, OSError)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    give_up_at = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < give_up_at:
        try:
            if check():
                return
        except NOT_YET as error:
            last = error
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready within {timeout_s}s") from last


class Process:
    """A console script of this project running in the background."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        """True while it runs; an early exit is an error that shows its log."""
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.popen.returncode}:\n{self.log()}")
        return True

    def stop(self, timeout_s: float = 15.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


def run_script(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
