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
    assert server.process.stop() == 0, server.process.log()


@pytest.mark.parametrize("environment", ["Production", "prod"])
def test_a_near_miss_of_production_is_refused_at_start(
    tmp_path: Path, emulator: Emulator, environment: str
) -> None:
    # Once, `Production` skipped every production check and served with
    # DEBUG logs, a test key and the emulator.
    env = server_env(f"sqlite:///{tmp_path / 'billing.db'}", emulator, free_port())
    env |= {"PAYMENTSVC_ENV": environment, "PAYMENTSVC_LOG_LEVEL": "DEBUG"}
    result = run_script(["billing-server"], env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "billing-server: invalid configuration: PAYMENTSVC_ENV must be exactly one of "
        f"development, test, production, got {environment!r}"
    ]


def test_an_unknown_log_level_exits_2_with_one_line(tmp_path: Path, emulator: Emulator) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'billing.db'}", emulator, free_port())
    env["PAYMENTSVC_LOG_LEVEL"] = "TRACE"
    result = run_script(["billing-server"], env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "PAYMENTSVC_LOG_LEVEL" in line
    assert "'TRACE'" in line


def test_production_without_tls_is_refused_unless_a_mesh_provides_it(
    tmp_path: Path, emulator: Emulator
) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'billing.db'}", emulator, free_port())
    env["PAYMENTSVC_ENV"] = "production"
    refused = run_script(["billing-server"], env)
    assert refused.returncode == 2
    assert "production serves TLS" in refused.stderr
    meshed = run_script(["billing-server"], {**env, "PAYMENTSVC_ALLOW_PLAINTEXT": "true"})
    assert meshed.returncode == 2  # the other problems of this development setup remain
    assert "production serves TLS" not in meshed.stderr
