"""Registering the Stripe webhook endpoint the service reads, or bringing an
existing one to the events it handles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from billing_server.adapters.stripe_events import PINNED_API_VERSION
from billing_server.adapters.stripe_webhook_endpoints import WebhookEndpoint
from billing_server.domain.events import HANDLED_TYPES


class WebhookEndpointsPort(Protocol):
    def at(self, url: str) -> WebhookEndpoint | None: ...

    def create(self, url: str, events: Sequence[str], api_version: str) -> WebhookEndpoint: ...

    def update(self, endpoint_id: str, events: Sequence[str]) -> WebhookEndpoint: ...


@dataclass(frozen=True)
class EndpointSetup:
    action: Literal["created", "updated", "unchanged"]
    # As found (or as created: only then does it carry the signing secret).
    endpoint: WebhookEndpoint
    # The version the service reads events in.
    api_version: str

    @property
    def version_pinned(self) -> bool:
        """False when Stripe renders this endpoint's events in another version,
        which it cannot change once the endpoint exists."""
        return self.endpoint.api_version == self.api_version


def set_up_webhook_endpoint(endpoints: WebhookEndpointsPort, url: str) -> EndpointSetup:
    events = sorted(HANDLED_TYPES)
    existing = endpoints.at(url)
    if existing is None:
        created = endpoints.create(url, events, PINNED_API_VERSION)
        return EndpointSetup("created", created, PINNED_API_VERSION)
    if existing.enabled_events == set(events) and existing.enabled:
        return EndpointSetup("unchanged", existing, PINNED_API_VERSION)
    endpoints.update(existing.id, events)
    return EndpointSetup("updated", existing, PINNED_API_VERSION)


def receiving_endpoints(endpoints: Sequence[WebhookEndpoint], url: str | None) -> str:
    """The endpoints (at `url`, if given) that deliver every handled event in
    the pinned API version; ValueError saying what to do when there is none."""
    events = sorted(HANDLED_TYPES)
    matching = [e for e in endpoints if e.delivers(events) and (url is None or e.url == url)]
    if not matching:
        where = f" at {url}" if url else ""
        raise ValueError(
            f"no enabled endpoint{where} for {', '.join(events)}: run `billing-admin webhook setup`"
        )
    versioned = [e for e in matching if e.api_version == PINNED_API_VERSION]
    if not versioned:
        found = ", ".join(f"{e.url} ({e.api_version or 'account default'})" for e in matching)
        raise ValueError(
            f"{found}: events are not rendered in API version {PINNED_API_VERSION}, which the "
            "service reads; each then costs a Stripe fetch. See `billing-admin webhook setup`"
        )
    return ", ".join(f"{e.url} ({e.api_version})" for e in versioned)
