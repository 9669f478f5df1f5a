"""The `webhook_endpoint` and `event` objects."""

from __future__ import annotations

from stripe_emulator.jsontypes import JSON

# Emulator-private: the endpoint's signing secret, shown only when it is created.
SECRET = "_secret"


def webhook_endpoint(
    endpoint_id: str,
    created: int,
    *,
    url: str,
    enabled_events: list[str],
    description: str | None,
    api_version: str | None,
    metadata: dict[str, str],
) -> JSON:
    return {
        "id": endpoint_id,
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": created,
        "description": description,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": metadata,
        "status": "enabled",
        "url": url,
    }


def event(
    event_id: str,
    created: int,
    *,
    event_type: str,
    snapshot: JSON,
    previous_attributes: JSON | None,
    api_version: str,
    request_id: str | None,
    idempotency_key: str | None,
    pending_webhooks: int,
) -> JSON:
    data: JSON = {"object": snapshot}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id,
        "object": "event",
        "api_version": api_version,
        "context": None,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }
