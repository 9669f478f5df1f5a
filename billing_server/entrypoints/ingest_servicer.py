"""billing.v1.WebhookIngestService: deliveries forwarded by the webhook gateway."""

from __future__ import annotations

import grpc

from billing.v1 import webhook_ingest_pb2, webhook_ingest_pb2_grpc
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.ingest import IngestOutcome, ingest_delivery

_OUTCOME = {
    IngestOutcome.STORED: webhook_ingest_pb2.INGEST_OUTCOME_STORED,
    IngestOutcome.DUPLICATE: webhook_ingest_pb2.INGEST_OUTCOME_DUPLICATE,
    IngestOutcome.IGNORED: webhook_ingest_pb2.INGEST_OUTCOME_IGNORED,
}


class WebhookIngestServicer(webhook_ingest_pb2_grpc.WebhookIngestServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps

    def IngestEvent(
        self, request: webhook_ingest_pb2.IngestEventRequest, context: grpc.ServicerContext
    ) -> webhook_ingest_pb2.IngestEventResponse:
        ingested = ingest_delivery(self.deps, request.payload, request.stripe_signature or None)
        return webhook_ingest_pb2.IngestEventResponse(
            event_id=ingested.event_id, outcome=_OUTCOME[ingested.outcome]
        )
