"""Running the project's processes in the background: a free port for each,
a bounded wait until one is ready, and a child whose output goes to a log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import grpc
import httpx

# What a check may meet while a process starts, stops or reconnects; any
# other error is the caller's to see.
NOT_YET: tuple[type[BaseException], ...] = (grpc.RpcError, httpx.TransportError, OSError)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Returns once `check()` holds; TimeoutError (from the last NOT_YET
    error, if any) when it has not within `timeout_s`."""
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


class LoggedProcess:
    """A child process with its output in a log file, stopped with SIGTERM."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

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
