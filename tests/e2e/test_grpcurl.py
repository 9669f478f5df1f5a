"""grpcurl, through server reflection, as an operator would use it."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.e2e.conftest import BillingServer, Emulator
from tests.e2e.services import BIN

pytestmark = pytest.mark.e2e


def grpcurl(server: BillingServer, *args: str) -> subprocess.CompletedProcess[str]:
    header = f"authorization: Bearer {server.token}"
    return subprocess.run(
        [str(BIN / "grpcurl"), "-plaintext", "-H", header, *args[:-1], server.target, args[-1]],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_reflection_lists_the_services(billing_server: BillingServer) -> None:
    result = grpcurl(billing_server, "list")
    assert result.returncode == 0, result.stderr
    services = result.stdout.split()
    assert "billing.v1.BillingService" in services
    assert "grpc.health.v1.Health" in services


def test_health_check_is_serving(billing_server: BillingServer) -> None:
    result = grpcurl(billing_server, "grpc.health.v1.Health/Check")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "SERVING"}


def test_check_plan_and_create_checkout(billing_server: BillingServer, account_id: str) -> None:
    checked = grpcurl(
        billing_server,
        "-d",
        json.dumps({"account_id": account_id, "plan": "pro"}),
        "billing.v1.BillingService/CheckPlan",
    )
    assert checked.returncode == 0, checked.stderr
    answer = json.loads(checked.stdout)
    assert answer.get("allowed", False) is False
    assert answer["denial_reason"] == "DENIAL_REASON_NO_SUBSCRIPTION"
    assert answer["plan"] == "free"
    assert answer["required_plan"] == "pro"

    created = grpcurl(
        billing_server,
        "-d",
        json.dumps({"account_id": account_id, "plan": "pro", "idempotency_key": uuid.uuid4().hex}),
        "billing.v1.BillingService/CreateCheckout",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["session_id"].startswith("cs_")


def test_errors_reach_grpcurl_with_their_code(billing_server: BillingServer) -> None:
    result = grpcurl(
        billing_server,
        "-d",
        json.dumps({"account_id": "acct_1", "plan": "platinum"}),
        "billing.v1.BillingService/CheckPlan",
    )
    assert result.returncode != 0
    assert "NotFound" in result.stderr
    assert "unknown plan 'platinum'" in result.stderr


def test_list_plans(billing_server: BillingServer) -> None:
    result = grpcurl(billing_server, "billing.v1.BillingService/ListPlans")
    assert result.returncode == 0, result.stderr
    plans = json.loads(result.stdout)["plans"]
    assert [p["name"] for p in plans] == ["free", "pro", "enterprise"]
    assert plans[1]["purchasable"] is True


def test_every_billing_rpc_through_reflection(
    billing_server: BillingServer, emulator: Emulator, account_id: str
) -> None:
    def call(method: str, body: dict[str, object]) -> dict[str, object]:
        result = grpcurl(
            billing_server, "-d", json.dumps(body), f"billing.v1.BillingService/{method}"
        )
        assert result.returncode == 0, f"{method}: {result.stderr}"
        answer: dict[str, object] = json.loads(result.stdout)
        return answer

    session = call(
        "CreateCheckout",
        {"account_id": account_id, "plan": "pro", "idempotency_key": uuid.uuid4().hex},
    )
    emulator.complete_checkout(str(session["session_id"]))
    confirmed = call("ConfirmCheckout", {"session_id": session["session_id"]})
    assert confirmed["subscription"]["plan"] == "pro"  # type: ignore[index]
    assert call("GetSubscription", {"account_id": account_id})["subscription"]["status"] == (  # type: ignore[index]
        "SUBSCRIPTION_STATUS_ACTIVE"
    )
    changed = call(
        "ChangePlan",
        {
            "account_id": account_id,
            "plan": "enterprise",
            "proration_behavior": "PRORATION_BEHAVIOR_NONE",
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert changed["subscription"]["plan"] == "enterprise"  # type: ignore[index]
    assert str(call("CreatePortalSession", {"account_id": account_id})["url"]).startswith("http")
    canceled = call(
        "CancelSubscription",
        {
            "account_id": account_id,
            "timing": "CANCELLATION_TIMING_IMMEDIATELY",
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert canceled["subscription"]["status"] == "SUBSCRIPTION_STATUS_CANCELED"  # type: ignore[index]
    assert call("CheckPlan", {"account_id": account_id, "plan": "pro"})["denial_reason"] == (
        "DENIAL_REASON_SUBSCRIPTION_CANCELED"
    )


def test_the_ingest_service_is_reflected(billing_server: BillingServer) -> None:
    result = subprocess.run(
        [
            str(BIN / "grpcurl"),
            "-plaintext",
            billing_server.target,
            "describe",
            "billing.v1.WebhookIngestService",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rpc IngestEvent" in result.stdout
