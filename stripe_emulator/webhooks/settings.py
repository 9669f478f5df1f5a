"""How webhooks are delivered: where to (the start-up endpoint), how often
to retry, and the chaos a test may ask for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON


@dataclass(frozen=True)
class RetryPolicy:
    """Stripe retries for three days; tests cannot wait that long, so the
    emulator backs off from `base_s`, doubling up to `cap_s`."""

    base_s: float = 0.5
    cap_s: float = 10.0
    max_attempts: int = 20
    timeout_s: float = 10.0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait before the attempt that follows failed `attempt` (1-based)."""
        return float(min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class WebhookSettings:
    """The endpoint configured at start-up (enabled for every event), and retries."""

    url: str | None = None
    secret: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class Chaos:
    """Misbehaviour a test asks for: extra copies, shuffled release, delay, loss."""

    duplicate: int = 0
    shuffle: bool = False
    delay_s: float = 0.0
    drop: bool = False

    def to_json(self) -> JSON:
        return asdict(self)

    @classmethod
    def from_json(cls, body: JSON) -> Chaos:
        """Parse `POST /_emulator/webhooks/chaos`; what is left out is normal."""
        unknown = sorted(set(body) - {"duplicate", "shuffle", "delay_s", "drop"})
        if unknown:
            raise StripeError(f"Unknown chaos setting: {unknown[0]}", param=unknown[0])
        duplicate = body.get("duplicate", 0)
        if not _is_int(duplicate) or duplicate < 0:
            raise StripeError("duplicate must be a non-negative integer", param="duplicate")
        delay = body.get("delay_s", 0.0)
        if not _is_number(delay) or delay < 0:
            raise StripeError("delay_s must be a non-negative number", param="delay_s")
        for flag in ("shuffle", "drop"):
            if not isinstance(body.get(flag, False), bool):
                raise StripeError(f"{flag} must be a boolean", param=flag)
        return cls(
            duplicate=duplicate,
            shuffle=body.get("shuffle", False),
            delay_s=float(delay),
            drop=body.get("drop", False),
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
