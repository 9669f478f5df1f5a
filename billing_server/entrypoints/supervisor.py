"""`billing-server` on every core: several server processes on one port.

One Python process runs on one core at a time (the GIL). With
PAYMENTSVC_GRPC_PROCESSES above 1 the command starts that many server
processes, which bind the same port with SO_REUSEPORT (grpcio sets it), so
the kernel spreads connections between them. Each process is a replica like
any other: its own entitlement view and change listener, its own appliers
(the inbox is shared safely by design).

This process only supervises. It serves /metrics for all of them
(prometheus_client's multiprocess mode, plus the gauges read from the
database, once), forwards SIGTERM so that they all drain, and if one dies,
stops the others and exits non-zero so that the orchestrator restarts the
whole server.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import multiprocess

from billing_server.config import Settings
from billing_server.entrypoints.metrics import serve_multiprocess
from billing_server.entrypoints.stop_signals import StopSignals

log = logging.getLogger("billing_server")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKER_ENV = "PAYMENTSVC_WORKER"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def supervise(settings: Settings, processes: int) -> int:
    metrics_dir, own_dir = _metrics_dir()
    host, _, port = settings.grpc_address.rpartition(":")
    # Held (bound, not listening) while the server runs: a taken port is
    # told in one line here, and port 0 becomes one port for every process.
    reserved = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reserved.bind((host.strip("[]"), int(port)))
    except OSError as exc:
        reserved.close()
        print(
            f"billing-server: cannot listen on {settings.grpc_address}: {exc.strerror}"
            " (move it with PAYMENTSVC_GRPC_ADDRESS)",
            file=sys.stderr,
        )
        return 2
    port = str(reserved.getsockname()[1])
    env = {
        **os.environ,
        "PAYMENTSVC_GRPC_PROCESSES": "1",
        "PAYMENTSVC_GRPC_ADDRESS": f"{host}:{port}",
        "PAYMENTSVC_METRICS_ADDRESS": "",
        MULTIPROC_ENV: str(metrics_dir),
    }
    metrics_server = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        if settings.metrics_address:
            try:
                metrics_server = serve_multiprocess(settings, metrics_dir)
            except OSError as exc:
                print(
                    f"billing-server: cannot serve metrics on {settings.metrics_address}: "
                    f"{exc.strerror} (move it with PAYMENTSVC_METRICS_ADDRESS; empty turns it off)",
                    file=sys.stderr,
                )
                return 2
        command = [sys.executable, "-m", "billing_server.entrypoints.serve"]
        workers = [
            subprocess.Popen(command, env={**env, WORKER_ENV: str(n)}, preexec_fn=_die_with_parent)
            for n in range(processes)
        ]
        print(f"billing-server listening on {host}:{port} ({processes} processes)", flush=True)
        return _run(workers, settings, metrics_dir)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if metrics_server is not None:
            metrics_server.shutdown()
        reserved.close()
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(workers: list[subprocess.Popen[bytes]], settings: Settings, metrics_dir: Path) -> int:
    signals = StopSignals()
    while signals.wait(0.2) is None:
        for n, worker in enumerate(workers):
            code = worker.poll()
            if code is not None:
                log.error("billing-server process %d exited with %d: stopping the others", n, code)
                _drain(workers, settings, metrics_dir)
                return code or 1
    log.info("received a signal: draining %d processes", len(workers))
    _drain(workers, settings, metrics_dir)
    return 0 if all(w.returncode == 0 for w in workers) else 1


def _drain(workers: list[subprocess.Popen[bytes]], settings: Settings, metrics_dir: Path) -> None:
    """SIGTERM to each; each drains as a single server does."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + settings.shutdown_grace_s + settings.shutdown_delay_s + 10
    for worker in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(max(0.0, deadline - time.monotonic()))
    for worker in workers:
        if worker.poll() is not None:
            multiprocess.mark_process_dead(worker.pid, str(metrics_dir))  # type: ignore[no-untyped-call]


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies, even by
    SIGKILL, so that no server process outlives it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _metrics_dir() -> tuple[Path, bool]:
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        # Files of an earlier run would add their counts to this one's.
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    return Path(tempfile.mkdtemp(prefix="paymentsvc-metrics-")), True
