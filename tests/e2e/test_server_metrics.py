"""The server's Prometheus endpoint counts what it handled."""

from __future__ import annotations

import re

import grpc
import httpx
import pytest

from billing.v1 import billing_pb2, billing_pb2_grpc
from tests.e2e.conftest import BillingServer

pytestmark = pytest.mark.e2e


def handled(server: BillingServer, method: str, code: str) -> float:
    text = httpx.get(server.metrics_url, timeout=5).text
    pattern = (
        r"^paymentsvc_grpc_server_handled_total\{"
        rf'grpc_code="{code}",grpc_method="{method}",grpc_service="billing.v1.BillingService"'
        r"\} (\S+)$"
    )
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_rpcs_are_counted_by_method_and_code(
    billing_server: BillingServer, stub: billing_pb2_grpc.BillingServiceStub, account_id: str
) -> None:
    ok_before = handled(billing_server, "CheckPlan", "OK")
    missing_before = handled(billing_server, "CheckPlan", "NOT_FOUND")

    for _ in range(3):
        stub.CheckPlan(billing_pb2.CheckPlanRequest(account_id=account_id, plan="pro"), timeout=5)
    with pytest.raises(grpc.RpcError):
        stub.CheckPlan(billing_pb2.CheckPlanRequest(account_id=account_id, plan="gold"), timeout=5)

    assert handled(billing_server, "CheckPlan", "OK") == ok_before + 3
    assert handled(billing_server, "CheckPlan", "NOT_FOUND") == missing_before + 1
