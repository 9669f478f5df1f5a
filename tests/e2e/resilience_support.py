"""Helpers shared by the resilience tests: statuses, health, channels, rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from sqlalchemy.sql import Executable

from billing.v1 import billing_pb2_grpc
from billing_server.adapters.database import make_engine
from tests.e2e.conftest import token
from tests.e2e.services import BearerToken

STRIPE_HEALTH = "paymentsvc.stripe"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def error_reason(error: grpc.RpcError) -> str | None:
    """The `google.rpc.ErrorInfo` reason of a failed call, None without one."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return None


@contextmanager
def authorized_channel(target: str) -> Iterator[grpc.Channel]:
    """A plaintext channel whose calls carry a token with every scope."""
    with grpc.insecure_channel(target) as channel:
        yield grpc.intercept_channel(channel, BearerToken(token()))


@contextmanager
def billing_stub(target: str) -> Iterator[billing_pb2_grpc.BillingServiceStub]:
    with authorized_channel(target) as channel:
        yield billing_pb2_grpc.BillingServiceStub(channel)


def health_status(target: str, service: str = "") -> int:
    with grpc.insecure_channel(target) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types omit Check
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        return int(answer.status)


def fetch_all(database_url: str, query: Executable) -> Sequence[Any]:
    """The rows a query finds, read on a connection of its own."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(query).all()
    finally:
        engine.dispose()
