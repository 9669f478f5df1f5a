"""Errors are rebuilt from the server's status code and google.rpc details."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from billing_client import (
    Aborted,
    BillingError,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    from_rpc_error,
    is_transient,
)
from billing_client._status import STATUS_DETAILS_KEY, decode_status, encode_status

pytestmark = pytest.mark.unit


def packed(message: object) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)  # type: ignore[arg-type]
    return detail


def real_status(code: int, message: str, reason: str, field: str | None = None) -> bytes:
    """Encoded exactly as billing_server.entrypoints.error_mapping does."""
    details = [
        packed(
            error_details_pb2.ErrorInfo(
                reason=reason, domain="billing.paymentsvc", metadata={"plan": "gold"}
            )
        )
    ]
    if field:
        details.append(
            packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=field, description=message
                        )
                    ]
                )
            )
        )
    status = status_pb2.Status(code=code, message=message, details=details)
    return bytes(status.SerializeToString())


class FailedCall(grpc.RpcError):
    """What grpc raises for a failed unary call: an RpcError that is a Call."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailers: Sequence[tuple[str, Any]]
    ) -> None:
        self._code, self._details, self._trailers = code, details, tuple(trailers)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailers


def test_decodes_a_status_encoded_with_googleapis_protos() -> None:
    data = real_status(code_pb2.NOT_FOUND, "unknown plan 'gold'", "PLAN_NOT_FOUND", field="plan")

    details = decode_status(data)

    assert details is not None
    assert details.code == code_pb2.NOT_FOUND
    assert details.message == "unknown plan 'gold'"
    assert details.reason == "PLAN_NOT_FOUND"
    assert details.domain == "billing.paymentsvc"
    assert dict(details.metadata) == {"plan": "gold"}
    assert details.field_violations == (("plan", "unknown plan 'gold'"),)


def test_encoded_status_reads_back_with_googleapis_protos() -> None:
    data = encode_status(7, "plan 'pro' required", reason="PLAN_REQUIRED", metadata={"a": "b"})

    status = status_pb2.Status.FromString(data)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)

    assert (status.code, status.message) == (7, "plan 'pro' required")
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "PLAN_REQUIRED",
        "billing.paymentsvc",
        {"a": "b"},
    )


def test_garbage_details_decode_to_nothing() -> None:
    assert decode_status(b"\xff\xff\xff") is None


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhausted),
        (grpc.StatusCode.ABORTED, Aborted),
        (grpc.StatusCode.UNAVAILABLE, Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceeded),
        (grpc.StatusCode.INTERNAL, Internal),
    ],
)
def test_each_status_code_maps_to_its_class(code: grpc.StatusCode, cls: type[BillingError]) -> None:
    error = from_rpc_error(FailedCall(code, "went wrong", ()))

    assert type(error) is cls
    assert error.code is code is cls.grpc_code
    assert error.message == "went wrong"
    assert error.reason is None


def test_reason_metadata_and_field_come_from_the_trailer() -> None:
    trailers: list[tuple[str, Any]] = [
        ("content-type", "application/grpc"),
        (
            STATUS_DETAILS_KEY,
            real_status(code_pb2.INVALID_ARGUMENT, "bad key", "IDEMPOTENCY_KEY_REUSED", "key"),
        ),
    ]

    error = from_rpc_error(FailedCall(grpc.StatusCode.INVALID_ARGUMENT, "bad key", trailers))

    assert isinstance(error, InvalidArgument)
    assert error.reason == "IDEMPOTENCY_KEY_REUSED"
    assert error.metadata == {"plan": "gold"}
    assert error.field_violations == (("key", "bad key"),)
    assert str(error) == "INVALID_ARGUMENT (IDEMPOTENCY_KEY_REUSED): bad key"


def test_unmapped_codes_are_plain_billing_errors() -> None:
    error = from_rpc_error(FailedCall(grpc.StatusCode.UNIMPLEMENTED, "no", ()))

    assert type(error) is BillingError
    assert error.code is grpc.StatusCode.UNIMPLEMENTED


def test_transient_errors_are_named_by_a_predicate() -> None:
    assert is_transient(Unavailable("down"))
    assert is_transient(DeadlineExceeded("slow"))
    assert is_transient(Aborted("busy"))
    assert is_transient(ResourceExhausted("quota"))
    assert not is_transient(NotFound("gone"))
    assert not is_transient(FailedPrecondition("no"))
    assert not is_transient(ValueError("x"))
