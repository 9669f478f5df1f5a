"""billing-server with a port someone else holds: one line naming the variable."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Emulator, server_env
from tests.e2e.services import free_port, run_script

pytestmark = pytest.mark.e2e


@pytest.fixture
def taken() -> Iterator[str]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield f"127.0.0.1:{holder.getsockname()[1]}"


@pytest.fixture
def env(tmp_path: Path, emulator: Emulator) -> dict[str, str]:
    fresh = server_env(f"sqlite:///{tmp_path / 'ports.db'}", emulator, free_port())
    assert run_script(["billing-admin", "migrate"], fresh).returncode == 0
    return fresh


@pytest.mark.parametrize("variable", ["PAYMENTSVC_GRPC_ADDRESS", "PAYMENTSVC_METRICS_ADDRESS"])
def test_a_taken_port_ends_the_server_with_one_line(
    env: dict[str, str], taken: str, variable: str
) -> None:
    result = run_script(["billing-server"], {**env, variable: taken, "GRPC_VERBOSITY": "NONE"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("billing-server:")]
    assert taken in line
    assert f"move it with {variable}" in line
