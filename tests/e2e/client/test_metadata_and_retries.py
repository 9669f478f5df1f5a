"""What the client sends on the wire, and how it retries UNAVAILABLE.

A recording server stands in for billing-server here, so that the test can
see the metadata and make the first attempt fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider

from billing.v1 import billing_pb2
from billing_client import BillingClient, FailedPrecondition, Unavailable, request_context

pytestmark = pytest.mark.e2e


@dataclass
class Recorder:
    failures_left: int = 0
    failure: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    calls: list[tuple[dict[str, str], billing_pb2.CreateCheckoutRequest]] = field(
        default_factory=list
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_checkout(
        self, request: billing_pb2.CreateCheckoutRequest, context: grpc.ServicerContext
    ) -> billing_pb2.CreateCheckoutResponse:
        with self.lock:
            self.calls.append(
                ({k: str(v) for k, v in context.invocation_metadata() or ()}, request)
            )
            fail = self.failures_left > 0
            self.failures_left -= 1
        if fail:
            context.abort(self.failure, "try again")
        return billing_pb2.CreateCheckoutResponse(session_id="cs_1", url="https://pay")


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()
    handler = grpc.method_handlers_generic_handler(
        "billing.v1.BillingService",
        {
            "CreateCheckout": grpc.unary_unary_rpc_method_handler(
                recorder.create_checkout,
                request_deserializer=billing_pb2.CreateCheckoutRequest.FromString,
                response_serializer=billing_pb2.CreateCheckoutResponse.SerializeToString,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield recorder, f"127.0.0.1:{port}"
    server.stop(None)


def test_metadata_of_every_call(recorder: tuple[Recorder, str]) -> None:
    calls, target = recorder
    tokens = iter(["token-1", "token-2"])
    with BillingClient(
        target, service_name="reports", token_provider=lambda: next(tokens), insecure=True
    ) as client:
        with request_context(
            request_id="req-42", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        ):
            client.create_checkout("acct_1", "pro")
        client.create_checkout("acct_1", "pro")

    first, second = (metadata for metadata, _ in calls.calls)
    assert first["x-paymentsvc-caller"] == "reports"
    assert first["authorization"] == "Bearer token-1"
    assert first["x-request-id"] == "req-42"
    assert first["traceparent"] == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    assert second["authorization"] == "Bearer token-2"
    assert second["x-request-id"] not in ("", "req-42")  # generated per call
    assert "traceparent" not in second


def test_the_current_opentelemetry_span_is_propagated(recorder: tuple[Recorder, str]) -> None:
    calls, target = recorder
    tracer = TracerProvider().get_tracer("test")
    with (
        BillingClient(target, service_name="reports", insecure=True) as client,
        tracer.start_as_current_span("handle") as span,
    ):
        client.create_checkout("acct_1", "pro")

    trace_id = format(span.get_span_context().trace_id, "032x")
    assert calls.calls[0][0]["traceparent"].split("-")[1] == trace_id


def test_unavailable_is_retried_with_the_same_idempotency_key(
    recorder: tuple[Recorder, str],
) -> None:
    calls, target = recorder
    calls.failures_left = 2
    with BillingClient(target, service_name="reports", insecure=True) as client:
        session = client.create_checkout("acct_1", "pro")

    assert session.session_id == "cs_1"
    assert len(calls.calls) == 3
    keys = {request.idempotency_key for _, request in calls.calls}
    request_ids = {metadata["x-request-id"] for metadata, _ in calls.calls}
    assert len(keys) == 1
    assert keys.pop()
    assert len(request_ids) == 1


@pytest.mark.parametrize("code", [grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED])
def test_a_key_in_progress_and_a_shutdown_cut_off_are_retried_with_the_same_key(
    recorder: tuple[Recorder, str], code: grpc.StatusCode
) -> None:
    # ABORTED: the server's IDEMPOTENCY_KEY_IN_PROGRESS; CANCELLED: a server
    # that cut the call off while shutting down.
    calls, target = recorder
    calls.failures_left = 2
    calls.failure = code
    with BillingClient(target, service_name="reports", insecure=True) as client:
        session = client.create_checkout("acct_1", "pro")

    assert session.session_id == "cs_1"
    assert len(calls.calls) == 3
    assert len({request.idempotency_key for _, request in calls.calls}) == 1


def test_other_refusals_are_not_retried(recorder: tuple[Recorder, str]) -> None:
    calls, target = recorder
    calls.failures_left = 1
    calls.failure = grpc.StatusCode.FAILED_PRECONDITION
    with (
        BillingClient(target, service_name="reports", insecure=True) as client,
        pytest.raises(FailedPrecondition),
    ):
        client.create_checkout("acct_1", "pro")
    assert len(calls.calls) == 1


def test_retries_stop_at_max_attempts(recorder: tuple[Recorder, str]) -> None:
    calls, target = recorder
    calls.failures_left = 10
    with (
        BillingClient(target, service_name="reports", insecure=True, max_attempts=2) as client,
        pytest.raises(Unavailable),
    ):
        client.create_checkout("acct_1", "pro")

    assert len(calls.calls) == 2
