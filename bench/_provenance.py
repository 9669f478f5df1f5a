"""Which server code a run measured: other people change it while we measure."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

from bench._processes import REPO, snapshot_dir


def code_under_test() -> str:
    """The snapshot measured, or the working tree's commit and whether it is dirty."""
    snapshot = snapshot_dir()
    if snapshot is not None:
        return f"server code: the snapshot in {snapshot} (PAYMENTSVC_BENCH_CODE)"
    spec = importlib.util.find_spec("billing_server")
    origin = Path(spec.origin).parent.parent if spec and spec.origin else None
    if origin is None:
        return "billing_server not found"
    if origin.resolve() != REPO:
        return f"billing_server from {origin}"
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "billing_server", "webhook_gateway")
    state = "with uncommitted changes" if dirty else "clean"
    return f"server code: the working tree at {head} ({state})"


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
    )
    return done.stdout.strip()
