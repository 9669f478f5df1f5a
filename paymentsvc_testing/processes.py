"""What Linux's /proc tells of a running process: its children, and the TCP
sockets it holds on a port (listening, or connections it accepted)."""

from __future__ import annotations

import os
from pathlib import Path

LISTEN = "0A"
ESTABLISHED = "01"


def children(pid: int) -> list[int]:
    """The direct children of a process (a supervisor's server processes)."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def sockets_on(pid: int, port: int, state: str) -> int:
    """TCP sockets of the process on local `port` in `state` (LISTEN, ESTABLISHED)."""
    inodes = {
        target[8:-1]
        for fd in Path(f"/proc/{pid}/fd").iterdir()
        if (target := _link(fd)).startswith("socket:[")
    }
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] in inodes:
                count += 1
    return count


def listening(pid: int, port: int) -> bool:
    """Whether the process holds a TCP socket listening on `port`."""
    return sockets_on(pid, port, LISTEN) > 0


def established(pid: int, port: int) -> int:
    """TCP connections the process holds that were accepted on `port`."""
    return sockets_on(pid, port, ESTABLISHED)


def _link(fd: Path) -> str:
    # A descriptor may close between listing and reading it.
    try:
        return os.readlink(fd)
    except OSError:
        return ""
