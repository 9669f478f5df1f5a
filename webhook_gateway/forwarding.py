"""Forwarding verified events to the billing server over gRPC."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billing.v1 import webhook_ingest_pb2, webhook_ingest_pb2_grpc
from paymentsvc_observability import request_ids
from paymentsvc_observability.tracing import outgoing_headers

INGEST_SERVICE = "billing.v1.WebhookIngestService"


class Verdict(enum.Enum):
    RECORDED = "recorded"
    # The server refused the payload itself: a retry would meet the same fate.
    REJECTED = "rejected"
    # The server is down or failed: Stripe must retry.
    RETRY = "retry"


@dataclass(frozen=True)
class Forwarded:
    verdict: Verdict
    event_id: str = ""
    outcome: str = ""
    detail: str = ""


class EventForwarder:
    """One gRPC channel to the billing server, opened and closed with the app."""

    def __init__(
        self,
        target: str,
        timeout_s: float,
        token: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._target = target
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._channel: grpc.aio.Channel | None = None

    async def open(self) -> None:
        if self._credentials is None:
            self._channel = grpc.aio.insecure_channel(self._target)
        else:
            self._channel = grpc.aio.secure_channel(self._target, self._credentials)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            raise RuntimeError("forwarder is not open")
        return self._channel

    async def forward(self, payload: bytes, signature: str) -> Forwarded:
        stub = webhook_ingest_pb2_grpc.WebhookIngestServiceStub(self.channel)
        # The request id and the trace travel on to the server.
        metadata = (
            *self._metadata,
            (request_ids.HEADER, request_ids.current() or ""),
            *outgoing_headers(),
        )
        try:
            response = await stub.IngestEvent(
                webhook_ingest_pb2.IngestEventRequest(payload=payload, stripe_signature=signature),
                timeout=self._timeout_s,
                metadata=metadata,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return Forwarded(Verdict.REJECTED, detail=error.details() or "")
            # Anything else is retried by Stripe, including a refused token or
            # a signature the server does not accept: both are configuration
            # errors (the gateway's token, or STRIPE_WEBHOOK_SECRET differing
            # between gateway and server) that Stripe's retries outlast once
            # fixed.
            return Forwarded(Verdict.RETRY, detail=f"{error.code().name}: {error.details() or ''}")
        outcome = webhook_ingest_pb2.IngestOutcome.Name(response.outcome)
        return Forwarded(
            Verdict.RECORDED,
            event_id=response.event_id,
            outcome=outcome.removeprefix("INGEST_OUTCOME_").lower(),
        )

    async def ready(self) -> bool:
        """True when the billing server reports its ingest service SERVING."""
        stub: Any = health_pb2_grpc.HealthStub(self.channel)  # the stubs' types omit Check
        try:
            answer = await stub.Check(
                health_pb2.HealthCheckRequest(service=INGEST_SERVICE), timeout=2
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
