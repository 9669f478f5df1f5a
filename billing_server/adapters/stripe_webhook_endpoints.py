"""Stripe webhook endpoints, for operators' set-up and checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import stripe

from billing_server.adapters.stripe_calls import StripeCalls


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    enabled_events: frozenset[str]
    enabled: bool
    # The version Stripe renders its events in; None: the account's default.
    api_version: str | None = None
    # Stripe returns the signing secret only when the endpoint is created.
    secret: str | None = None

    def delivers(self, events: Sequence[str]) -> bool:
        return self.enabled and ("*" in self.enabled_events or set(events) <= self.enabled_events)


class StripeWebhookEndpoints:
    def __init__(self, client: stripe.StripeClient, calls: StripeCalls) -> None:
        self._stripe = client
        self._call = calls

    def all(self) -> list[WebhookEndpoint]:
        # Every page: an endpoint missed here would be registered a second
        # time, and every event then arrives twice.
        return self._call(
            "list webhook endpoints",
            lambda: [
                _endpoint(e.to_dict())
                for e in self._stripe.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter()
            ],
        )

    def at(self, url: str) -> WebhookEndpoint | None:
        """The endpoint that delivers to `url`, however its scheme and host are cased."""
        wanted = same_url_key(url)
        return next((e for e in self.all() if same_url_key(e.url) == wanted), None)

    def create(self, url: str, events: Sequence[str], api_version: str) -> WebhookEndpoint:
        created = self._call(
            "create webhook endpoint",
            lambda: self._stripe.v1.webhook_endpoints.create(
                {
                    "url": url,
                    # The params type lists Stripe's event names as literals.
                    "enabled_events": cast(Any, list(events)),
                    "description": "paymentsvc webhook gateway",
                    # Without it Stripe renders events in the account's default
                    # version, whatever shape that has.
                    "api_version": cast(Any, api_version),
                }
            ),
        )
        return _endpoint(created.to_dict())

    def update(self, endpoint_id: str, events: Sequence[str]) -> WebhookEndpoint:
        updated = self._call(
            "update webhook endpoint",
            lambda: self._stripe.v1.webhook_endpoints.update(
                endpoint_id,
                {"enabled_events": cast(Any, list(events)), "disabled": False},
            ),
        )
        return _endpoint(updated.to_dict())


def same_url_key(url: str) -> str:
    """What makes two endpoint URLs the same target: the scheme and host are
    case-insensitive and a default port is the same as none."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port not in (None, default) else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path or '/'}?{parts.query}"


def _endpoint(data: dict[str, object]) -> WebhookEndpoint:
    events = data.get("enabled_events") or []
    assert isinstance(events, list)
    secret = data.get("secret")
    version = data.get("api_version")
    return WebhookEndpoint(
        id=str(data["id"]),
        url=str(data["url"]),
        enabled_events=frozenset(str(e) for e in events),
        enabled=data.get("status") != "disabled",
        api_version=version if isinstance(version, str) else None,
        secret=secret if isinstance(secret, str) else None,
    )
