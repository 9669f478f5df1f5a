"""Who used the CPU during a measuring window, from /proc.

On two cores the load generator, the server, PostgreSQL and anything else
running on the machine (other people's tests, say) share the same CPUs: the
figures only mean something next to these shares.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench._processes import CLOCK_TICKS, machine_busy_seconds


@dataclass(frozen=True)
class CpuShares:
    """CPU used in the window, in cores (1.0 = one core busy all the time)."""

    named: dict[str, float]
    generator: float
    postgres: float
    others: float
    machine_busy: float  # fraction of all cores

    def line(self) -> str:
        parts = [f"load generator {self.generator:.2f}"]
        parts += [f"{name} {cores:.2f}" for name, cores in self.named.items()]
        parts += [f"postgres {self.postgres:.2f}", f"other processes {self.others:.2f}"]
        # Processes that ended inside the window (a PostgreSQL session the
        # pool closed, say) took their CPU time with them.
        counted = self.generator + sum(self.named.values()) + self.postgres + self.others
        unattributed = self.machine_busy * (os.cpu_count() or 1) - counted
        parts.append(f"exited or kernel {max(0.0, unattributed):.2f}")
        return (
            f"CPU cores used: {', '.join(parts)} (machine {self.machine_busy:.0%} busy "
            f"of {os.cpu_count()} cores)"
        )


class CpuWindow:
    """Started when the window opens; close() when it ends."""

    def __init__(self) -> None:
        self._start = _per_process()
        self._machine = machine_busy_seconds()

    def close(
        self, names: Mapping[int, str], generator_pids: Collection[int], seconds: float
    ) -> CpuShares:
        end = _per_process()
        busy0, total0 = self._machine
        busy1, total1 = machine_busy_seconds()
        me = os.getpid()
        named = dict.fromkeys(names.values(), 0.0)
        generator = postgres = others = 0.0
        for pid, (comm, cpu) in end.items():
            used = (cpu - self._start.get(pid, (comm, 0.0))[1]) / seconds
            if pid in names:
                named[names[pid]] += used
            elif pid in generator_pids or pid == me:
                generator += used
            elif comm == "postgres":
                postgres += used
            else:
                others += used
        busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
        return CpuShares(named, generator, postgres, others, busy)


def _per_process() -> dict[int, tuple[str, float]]:
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (comm, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found
