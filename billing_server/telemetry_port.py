"""The port through which the service reports what operators watch.

Use cases say what happened (an event processed, a payment failed, a
subscription canceled) and open spans around their work; the gRPC layer
plugs in Prometheus and OpenTelemetry. The default does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Telemetry(Protocol):
    def span(
        self, name: str, attributes: Mapping[str, str], parent: str | None = None
    ) -> AbstractContextManager[None]:
        """A span around some work; `parent` is a W3C traceparent to join."""

    def trace_context(self) -> str | None:
        """The current span as a W3C traceparent (None while tracing is off)."""

    def stripe_call(self, operation: str, outcome: str, seconds: float) -> None: ...

    def delivery_received(self, outcome: str) -> None:
        """A webhook delivery stored (or found a duplicate)."""

    def event_processed(self, event_type: str, outcome: str) -> None: ...

    def event_rejected(self, reason: str) -> None: ...

    def event_applied_after(self, seconds: float) -> None:
        """Time from storing an event to finishing it."""

    def idempotent_replay(self, action: str) -> None: ...

    def payment_failed(self) -> None: ...

    def subscription_canceled(self, plan: str) -> None: ...

    def reconciled(self, missing: int, different: int) -> None: ...

    def entitlement_answered(self, source: str) -> None:
        """A CheckPlan/GetEntitlements answer: from the view, the database,
        or the view while out of touch with the database (stale)."""


class NullTelemetry:
    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, str], parent: str | None = None
    ) -> Iterator[None]:
        yield

    def trace_context(self) -> str | None:
        return None

    def stripe_call(self, operation: str, outcome: str, seconds: float) -> None:
        pass

    def delivery_received(self, outcome: str) -> None:
        pass

    def event_processed(self, event_type: str, outcome: str) -> None:
        pass

    def event_rejected(self, reason: str) -> None:
        pass

    def event_applied_after(self, seconds: float) -> None:
        pass

    def idempotent_replay(self, action: str) -> None:
        pass

    def payment_failed(self) -> None:
        pass

    def subscription_canceled(self, plan: str) -> None:
        pass

    def reconciled(self, missing: int, different: int) -> None:
        pass

    def entitlement_answered(self, source: str) -> None:
        pass
