"""Where an event goes: the start-up endpoint and the registered webhook endpoints."""

from __future__ import annotations

from dataclasses import dataclass

from stripe_emulator.events import DEFAULT_API_VERSION
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.webhook import SECRET, webhook_endpoint
from stripe_emulator.store import Store

# The id of the endpoint given on the command line (--webhook-url).
STARTUP = "we_startup"


@dataclass(frozen=True)
class Target:
    key: str  # the webhook_endpoint id
    url: str
    secret: str
    enabled_events: tuple[str, ...] = ("*",)

    def accepts(self, event_type: str) -> bool:
        return any(_matches(pattern, event_type) for pattern in self.enabled_events)


def _matches(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def registered(store: Store) -> list[Target]:
    """Enabled API-registered endpoints, oldest first (the caller holds the store lock)."""
    return [
        _target(endpoint)
        for endpoint in reversed(store.newest_first("webhook_endpoint"))
        if endpoint["status"] == "enabled"
    ]


def still_enabled(store: Store, target: Target) -> bool:
    """Deliveries queued for an endpoint since deleted or disabled are not sent."""
    with store.lock:
        endpoint = store.get("webhook_endpoint", target.key)
        return endpoint is not None and endpoint["status"] == "enabled"


def startup_endpoint(target: Target, created: int) -> JSON:
    """The start-up endpoint as a stored webhook_endpoint (every event, by default)."""
    endpoint = webhook_endpoint(
        target.key,
        created,
        url=target.url,
        enabled_events=list(target.enabled_events),
        description="the emulator's --webhook-url",
        # Events are rendered in the emulator's one version.
        api_version=DEFAULT_API_VERSION,
        metadata={},
    )
    endpoint[SECRET] = target.secret
    return endpoint


def _target(endpoint: JSON) -> Target:
    return Target(
        endpoint["id"], endpoint["url"], endpoint[SECRET], tuple(endpoint["enabled_events"])
    )
