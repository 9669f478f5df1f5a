"""billing.v1.WebhookIngestService: events forwarded by the webhook gateway."""

from __future__ import annotations

import grpc

from billing.v1 import webhook_ingest_pb2, webhook_ingest_pb2_grpc
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.webhooks import IngestOutcome, ingest_event

_OUTCOME = {
    IngestOutcome.APPLIED: webhook_ingest_pb2.INGEST_OUTCOME_APPLIED,
    IngestOutcome.DUPLICATE: webhook_ingest_pb2.INGEST_OUTCOME_DUPLICATE,
    IngestOutcome.STALE: webhook_ingest_pb2.INGEST_OUTCOME_STALE,
    IngestOutcome.IGNORED: webhook_ingest_pb2.INGEST_OUTCOME_IGNORED,
    IngestOutcome.DEFERRED: webhook_ingest_pb2.INGEST_OUTCOME_DEFERRED,
}


class WebhookIngestServicer(webhook_ingest_pb2_grpc.WebhookIngestServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps

    def IngestEvent(
        self, request: webhook_ingest_pb2.IngestEventRequest, context: grpc.ServicerContext
    ) -> webhook_ingest_pb2.IngestEventResponse:
        ingested = ingest_event(self.deps, request.payload)
        return webhook_ingest_pb2.IngestEventResponse(
            event_id=ingested.event_id, outcome=_OUTCOME[ingested.outcome]
        )
