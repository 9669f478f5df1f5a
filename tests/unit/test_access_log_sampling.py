"""The access log samples successful entitlement reads, and nothing else."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from billing_server.domain.errors import NotFound
from billing_server.entrypoints.auth import Authenticator
from billing_server.entrypoints.pipeline import RequestPipeline

pytestmark = pytest.mark.unit


class _Context:
    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-paymentsvc-caller", "unit-tests"),)

    def set_trailing_metadata(self, metadata: Any) -> None:
        pass

    def time_remaining(self) -> float:
        return 5.0

    def abort_with_status(self, status: Any) -> None:
        raise grpc.RpcError()

    def abort(self, code: Any, details: str) -> None:
        raise grpc.RpcError()


class _Details:
    def __init__(self, method: str) -> None:
        self.method = f"/billing.v1.BillingService/{method}"
        self.invocation_metadata = ()


def _call(pipeline: RequestPipeline, method: str, *, fails: bool = False) -> None:
    def behavior(request: bytes, context: Any) -> bytes:
        if fails:
            raise NotFound("no such thing")
        return request

    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(behavior)
    details: Any = _Details(method)
    wrapped = pipeline.intercept_service(lambda _: handler, details)
    context: Any = _Context()
    assert wrapped is not None
    assert wrapped.unary_unary is not None
    if fails:
        with pytest.raises(grpc.RpcError):
            wrapped.unary_unary(b"", context)
    else:
        wrapped.unary_unary(b"", context)


def _lines(caplog: pytest.LogCaptureFixture, method: str, code: str) -> int:
    return sum(
        1
        for r in caplog.records
        if r.name == "billing_server.access" and r.getMessage().startswith(f"{method} {code} ")
    )


def test_one_in_n_successful_reads_and_every_other_call_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline = RequestPipeline(Authenticator(None), None, None, 30.0, access_log_sample=0.25)
    with caplog.at_level("INFO", logger="billing_server.access"):
        for _ in range(40):
            _call(pipeline, "CheckPlan")
        for _ in range(8):
            _call(pipeline, "GetEntitlements")
        for _ in range(5):
            _call(pipeline, "CheckPlan", fails=True)
        for _ in range(3):
            _call(pipeline, "ListPlans")

    assert _lines(caplog, "CheckPlan", "OK") + _lines(caplog, "GetEntitlements", "OK") == 12
    assert _lines(caplog, "CheckPlan", "NOT_FOUND") == 5
    assert _lines(caplog, "ListPlans", "OK") == 3


def test_a_sample_of_zero_logs_no_successful_read(caplog: pytest.LogCaptureFixture) -> None:
    pipeline = RequestPipeline(Authenticator(None), None, None, 30.0, access_log_sample=0)
    with caplog.at_level("INFO", logger="billing_server.access"):
        for _ in range(10):
            _call(pipeline, "CheckPlan")
        _call(pipeline, "CheckPlan", fails=True)
    assert _lines(caplog, "CheckPlan", "OK") == 0
    assert _lines(caplog, "CheckPlan", "NOT_FOUND") == 1
