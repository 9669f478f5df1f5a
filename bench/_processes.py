"""Starting, watching and stopping the processes a benchmark measures."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from paymentsvc_testing.running import LoggedProcess
from paymentsvc_testing.running import free_port as free_port
from paymentsvc_testing.running import wait_until as wait_until

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Logs and SQLite files of the benchmarks: nothing is written into the repo.
WORK_DIR = Path(tempfile.gettempdir()) / "paymentsvc-bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


class Process(LoggedProcess):
    """A child process of a benchmark, logged under WORK_DIR, that dies with it."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        WORK_DIR.mkdir(exist_ok=True)
        super().__init__(
            name,
            argv,
            env or {},
            WORK_DIR / f"{name}-{os.getpid()}-{time.monotonic_ns()}.log",
            cwd=REPO,
            preexec_fn=_die_with_parent,
        )

    @classmethod
    def script(cls, name: str, env: Mapping[str, str], *args: str) -> Process:
        """One of the project's console scripts: from the venv, or from the
        unpacked snapshot that PAYMENTSVC_BENCH_CODE names."""
        return cls(name, [*script_argv(name), *args], env)

    @classmethod
    def module(cls, name: str, module: str, *args: str) -> Process:
        return cls(name, [sys.executable, "-m", module, *args])

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The console scripts' entry points (pyproject.toml), for running a snapshot.
ENTRY_POINTS = {
    "billing-server": ("billing_server.entrypoints.serve", "serve_main"),
    "billing-admin": ("billing_server.entrypoints.admin", "admin_main"),
    "billing-probe": ("billing_server.entrypoints.probe", "main"),
    "webhook-gateway": ("webhook_gateway.cli", "main"),
}
# Imports the snapshot's packages instead of the editable install of the
# working tree, whose import hook would otherwise win over sys.path.
_LAUNCHER = """
import sys
code = sys.argv.pop(1)
sys.path[:0] = [code, code + "/clients/python/src"]
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
module, function = sys.argv.pop(1), sys.argv.pop(1)
sys.exit(getattr(__import__(module, fromlist=[function]), function)())
"""


def snapshot_dir() -> str | None:
    """`git archive <commit> billing_server webhook_gateway clients/python/src`
    unpacked there is measured instead of the working tree, which other
    people change while a benchmark runs."""
    return os.environ.get("PAYMENTSVC_BENCH_CODE") or None


def script_argv(name: str) -> list[str]:
    code = snapshot_dir()
    if code is None:
        return [str(BIN / name)]
    module, function = ENTRY_POINTS[name]
    return [sys.executable, "-c", _LAUNCHER, code, module, function]


def _die_with_parent() -> None:
    """Linux: SIGTERM the child when the benchmark dies, so nothing lingers."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def rss_mb(pid: int) -> float:
    """Resident memory from /proc/<pid>/status, in MB (2**20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces: fields are counted after its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS
