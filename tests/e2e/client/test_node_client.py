"""A Node.js caller, loading the .proto at run time, gets the same answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from billing_client import BillingClient
from tests.e2e.client.conftest import subscribe
from tests.e2e.conftest import BillingServer, Emulator

pytestmark = pytest.mark.e2e

NODE_DIR = Path(__file__).resolve().parents[3] / "clients" / "node"


def run_check(target: str, *args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("clients/node/node_modules is missing: run `npm ci --prefix clients/node`")
    return subprocess.run(
        [node, str(NODE_DIR / "check_plan.mjs"), "--target", target, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PAYMENTSVC_TOKEN": token, "PAYMENTSVC_CALLER": "node-e2e"},
    )


def test_node_check_plan_answers_like_the_python_client(
    billing_server: BillingServer, client: BillingClient, emulator: Emulator, account_id: str
) -> None:
    subscribe(client, emulator, account_id, "pro")

    allowed = run_check(
        billing_server.target,
        "--account",
        account_id,
        "--feature",
        "exports",
        token=billing_server.token,
    )
    denied = run_check(
        billing_server.target,
        "--account",
        account_id,
        "--plan",
        "enterprise",
        token=billing_server.token,
    )
    missing = run_check(
        billing_server.target, "--account", account_id, "--plan", "gold", token=billing_server.token
    )

    assert allowed.returncode == 0, allowed.stderr
    answer = json.loads(allowed.stdout)
    python = client.check_plan(account_id, feature="exports")
    assert answer["allowed"] is True
    assert answer["plan"] == "pro"
    assert answer["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
    assert answer["denial_reason"] == "DENIAL_REASON_UNSPECIFIED"
    assert int(answer["state_version"]) == python.state_version
    assert python.current_period_end is not None
    assert int(answer["current_period_end"]["seconds"]) == int(
        python.current_period_end.timestamp()
    )

    assert denied.returncode == 0, denied.stderr
    assert json.loads(denied.stdout)["denial_reason"] == "DENIAL_REASON_PLAN_TOO_LOW"
    assert json.loads(denied.stdout)["required_plan"] == "enterprise"
    assert missing.returncode == 1
    error = json.loads(missing.stdout)["error"]
    assert error["code"] == "NOT_FOUND"
    # The ErrorInfo, decoded with the vendored google/rpc protos.
    assert error["reason"] == "PLAN_NOT_FOUND"
    assert error["domain"] == "billing.paymentsvc"
    assert error["metadata"] == {"plan": "gold"}


def test_node_reads_the_field_a_bad_request_names(billing_server: BillingServer) -> None:
    refused = run_check(
        billing_server.target,
        "--account",
        "no spaces allowed",
        "--plan",
        "pro",
        token=billing_server.token,
    )
    assert refused.returncode == 1, refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["reason"]
    assert [v["field"] for v in error["field_violations"]] == ["account_id"]
