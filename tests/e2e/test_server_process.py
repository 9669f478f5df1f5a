"""How the billing-server process starts and stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Emulator, server_env, start_server
from tests.e2e.services import free_port, run_script

pytestmark = pytest.mark.e2e


def test_the_server_refuses_a_database_not_at_head(tmp_path: Path, emulator: Emulator) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'empty.db'}", emulator, free_port())
    result = run_script(["billing-server"], env)
    assert result.returncode == 2
    assert "billing-admin migrate" in result.stderr


def test_migrate_then_serve_then_stop_cleanly(
    tmp_path: Path, emulator: Emulator, e2e_logs: Path
) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'fresh.db'}", emulator, free_port())
    migrated = run_script(["billing-admin", "migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated" in migrated.stdout
    again = run_script(["billing-admin", "migrate"], env)
    assert "already at head" in again.stdout

    server = start_server(env, e2e_logs)
    assert server.process.stop() == 0
