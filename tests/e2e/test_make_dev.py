"""`make dev` tells the truth: up once everything answers, one line when not."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.dev_stack import UP_LINE, dev_env, make_dev
from tests.e2e.services import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAIL_FAST_S = 30


@pytest.fixture
def taken() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def run_make_dev(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    with make_dev(env) as stack:
        try:
            stack.process.wait(FAIL_FAST_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make dev still running after {FAIL_FAST_S}s:\n{stack.output()}")
        took = time.monotonic() - started
        time.sleep(0.2)
        output = stack.output()
        code = stack.process.returncode
    return subprocess.CompletedProcess(["make", "dev"], code, output, ""), took


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("make dev:")]
    return lines[-1] if lines else ""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYMENTSVC_GRPC_ADDRESS", "127.0.0.1:{port}"),
        ("PAYMENTSVC_METRICS_ADDRESS", "127.0.0.1:{port}"),
        ("PAYMENTSVC_GATEWAY_PORT", "{port}"),
        ("PAYMENTSVC_EMULATOR_PORT", "{port}"),
    ],
)
def test_a_taken_port_fails_fast_naming_the_port_and_its_variable(
    tmp_path: Path, taken: int, variable: str, value: str
) -> None:
    env = dev_env(tmp_path, **{variable: value.format(port=taken)})
    result, took = run_make_dev(env)
    assert result.returncode != 0
    assert took < FAIL_FAST_S
    assert last_line(result.stdout) == (
        f"make dev: port {taken} on 127.0.0.1 is taken (Address already in use);"
        f" move it with {variable}=..."
    )
    assert UP_LINE not in result.stdout


def test_a_server_that_exits_at_start_is_named_in_one_line(tmp_path: Path) -> None:
    # Production refuses a development configuration: the server exits 2.
    env = dev_env(tmp_path, PAYMENTSVC_ENV="production")
    result, _ = run_make_dev(env)
    assert result.returncode != 0
    grpc_port = env["PAYMENTSVC_GRPC_ADDRESS"].rsplit(":", 1)[1]
    line = last_line(result.stdout)
    assert line.startswith("make dev: billing-server exited (code 2) before it answered:")
    assert f"port {grpc_port} (PAYMENTSVC_GRPC_ADDRESS)" in line
    assert UP_LINE not in result.stdout


def test_up_means_every_process_answers_and_the_gateway_follows_the_server(
    tmp_path: Path,
) -> None:
    env = dev_env(tmp_path)
    with make_dev(env) as stack:
        assert stack.wait_for_line(UP_LINE, 120), stack.output()
        up = next(line for line in stack.lines if UP_LINE in line)
        assert f"gRPC on {env['PAYMENTSVC_GRPC_ADDRESS']}" in up
        # Ready: the gateway reaches the server on its moved port.
        assert httpx.get(f"{stack.gateway_url}/readyz").status_code == 200
        assert httpx.get(f"{stack.emulator_url}/_emulator/healthz").is_success
        stack.stop()  # Ctrl-C
    ports = [env["PAYMENTSVC_GRPC_ADDRESS"].rsplit(":", 1)[1], env["PAYMENTSVC_GATEWAY_PORT"]]
    ports.append(env["PAYMENTSVC_EMULATOR_PORT"])
    # Every process it started has gone with it.
    wait_until(
        lambda: not any(listening(int(p)) for p in ports), 30, "make dev's processes to stop"
    )


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
