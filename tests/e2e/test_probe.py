"""billing-probe, the containers' health check: answers, and says why not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from billing_server.config import Settings
from billing_server.entrypoints import probe
from billing_server.entrypoints.grpc_server import BILLING_SERVICE
from tests.e2e.conftest import BillingServer
from tests.e2e.services import free_port, run_script

pytestmark = pytest.mark.e2e

# What would make the probe slow: the service's configuration and its
# database and Stripe libraries.
HEAVY = ("sqlalchemy", "alembic", "stripe", "billing_server.config", "billing_server.adapters")


def test_the_probe_imports_grpc_and_the_health_stubs_only() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, billing_server.entrypoints.probe; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "grpc_health.v1.health_pb2" in loaded
    assert not [m for m in loaded if m.startswith(HEAVY)]


def test_the_probe_dials_the_servers_default_address() -> None:
    assert Settings.from_env({}).grpc_address == probe.DEFAULT_ADDRESS
    assert probe.local_target("0.0.0.0:50051") == "127.0.0.1:50051"


def test_serving_exits_0_and_says_so(billing_server: BillingServer) -> None:
    env = {"PAYMENTSVC_GRPC_ADDRESS": billing_server.target}
    overall = run_script(["billing-probe"], env)
    ready = run_script(["billing-probe", "--service", BILLING_SERVICE], env)
    assert overall.returncode == ready.returncode == 0, overall.stderr + ready.stderr
    assert overall.stdout.strip() == f"billing-probe: {billing_server.target} (overall): SERVING"
    assert ready.stdout.strip().endswith(f"{BILLING_SERVICE}: SERVING")


def test_no_server_exits_1_with_the_reason() -> None:
    target = f"127.0.0.1:{free_port()}"
    result = run_script(["billing-probe", "--timeout", "2"], {"PAYMENTSVC_GRPC_ADDRESS": target})
    assert result.returncode == 1
    assert result.stderr.startswith(f"billing-probe: {target} (overall): UNAVAILABLE: ")


def test_an_unknown_service_is_reported_by_its_status(billing_server: BillingServer) -> None:
    env = {"PAYMENTSVC_GRPC_ADDRESS": billing_server.target}
    result = run_script(["billing-probe", "--service", "no.such.Service"], env)
    assert result.returncode == 1
    assert "no.such.Service: NOT_FOUND" in result.stderr


def test_billing_admin_healthcheck_says_why_it_fails() -> None:
    target = f"127.0.0.1:{free_port()}"
    result = run_script(["billing-admin", "healthcheck"], {"PAYMENTSVC_GRPC_ADDRESS": target})
    assert result.returncode == 1
    assert f"billing server at {target}: UNAVAILABLE" in result.stderr
