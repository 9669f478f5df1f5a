"""Delivering signed events to the service layer, and applying them, for
use-case and integration tests."""

from __future__ import annotations

from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.ingest import Ingested, ingest_delivery
from billing_server.service_layer.webhooks import apply_all_due
from tests.signing import signature_header


def deliver(deps: Dependencies, payload: bytes) -> Ingested:
    """Takes the delivery in, as the gateway's forward would, signed with the
    secret the service accepts; applies nothing."""
    return ingest_delivery(deps, payload, signature_header(payload, deps.webhooks.secrets[0]))


def deliver_and_apply(deps: Dependencies, *payloads: bytes) -> None:
    for payload in payloads:
        deliver(deps, payload)
    apply_all_due(deps)
