"""A small HTTP client for the emulator's /_emulator test helpers (see README).

Tests get one as `RunningEmulator.control` from `stripe_emulator.testing`.
"""

from __future__ import annotations

from typing import Any

import httpx

JSON = dict[str, Any]


class EmulatorControlError(Exception):
    """A /_emulator helper refused the request (e.g. completing a closed session)."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(f"{status}: {body.get('error', body)}")
        self.status = status
        self.body = body


class EmulatorControl:
    """A small client for the emulator's test-helper endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=f"{url}/_emulator", timeout=10.0)

    def close(self) -> None:
        self._http.close()

    def _call(
        self, method: str, path: str, body: JSON | None = None, timeout: float | None = None
    ) -> JSON:
        extra: Any = {} if timeout is None else {"timeout": timeout}
        response = self._http.request(method, path, json=body, **extra)
        payload: JSON = response.json()
        if response.status_code >= 400:
            raise EmulatorControlError(response.status_code, payload)
        return payload

    def complete_checkout(self, session_id: str) -> JSON:
        """Pay the session as its customer would; returns the completed session."""
        return self._call("POST", f"/checkout/sessions/{session_id}/complete", {})

    def renew_subscription(self, subscription_id: str, outcome: str = "succeeded") -> JSON:
        """End the current period: "succeeded" bills it, "failed" leaves it past_due."""
        return self._call("POST", f"/subscriptions/{subscription_id}/renew", {"outcome": outcome})

    def advance_clock(self, seconds: int) -> int:
        """Move the emulator's clock forward, playing out what falls due on
        subscriptions not on a test clock; returns its new now (unix seconds)."""
        return int(self._call("POST", "/clock/advance", {"seconds": seconds})["now"])

    def now(self) -> int:
        return int(self._call("GET", "/clock")["now"])

    def attach_to_test_clock(self, customer_id: str, clock_id: str) -> JSON:
        """Put a customer without subscriptions on a test clock (one a service
        created, which could not pass `test_clock`); returns the customer."""
        return self._call("POST", f"/customers/{customer_id}/test_clock", {"test_clock": clock_id})

    def set_dunning(self, final_status: str) -> JSON:
        """What a subscription becomes once its last payment retry fails:
        "canceled" (the default), "unpaid" or "past_due"."""
        return self._call("POST", "/dunning", {"final_status": final_status})

    def request_counts(self) -> JSON:
        """`{"total", "by_route", "replayed_total", "replayed"}` since the last reset."""
        return self._call("GET", "/requests")

    def route_count(self, route: str) -> int:
        """How many times e.g. "POST /v1/customers" was received."""
        return int(self.request_counts()["by_route"].get(route, 0))

    def update_subscription(self, subscription_id: str, **changes: Any) -> JSON:
        """Act out a billing-portal change: `price="price_x"`, `status="unpaid"`,
        `cancel_at_period_end=True`, `quantity=2`, `metadata={...}` or
        `proration_behavior=...`; records `customer.subscription.updated`."""
        return self._call("POST", f"/subscriptions/{subscription_id}/update", changes)

    # -- webhooks --

    def deliveries(self) -> JSON:
        """`{"deliveries": [{event_id, event_type, endpoint_id, endpoint_url, attempt,
        status, delivered_at, duplicate, error}, ...], "summary": {...}}`."""
        return self._call("GET", "/webhooks/deliveries")

    def pause_webhooks(self) -> JSON:
        """Hold every delivery (they queue) until `resume_webhooks()`; returns the summary."""
        return self._call("POST", "/webhooks/pause", {})

    def resume_webhooks(self) -> JSON:
        return self._call("POST", "/webhooks/resume", {})

    def set_chaos(
        self,
        *,
        duplicate: int = 0,
        shuffle: bool = False,
        delay_s: float = 0.0,
        drop: bool = False,
    ) -> JSON:
        """From now on misdeliver webhooks; called with no arguments, back to normal."""
        chaos = {"duplicate": duplicate, "shuffle": shuffle, "delay_s": delay_s, "drop": drop}
        return self._call("POST", "/webhooks/chaos", chaos)

    def flush_webhooks(self, timeout_s: float = 10.0) -> JSON:
        """Wait until no delivery is queued, in flight or due for retry within
        `timeout_s`; returns the summary, with `"flushed": False` if that did not happen."""
        return self._call("POST", "/webhooks/flush", {"timeout_s": timeout_s}, timeout_s + 10)

    def resend_event(self, event_id: str) -> JSON:
        """Deliver the event again to every matching endpoint (the dashboard's "Resend")."""
        return self._call("POST", f"/events/{event_id}/resend", {})

    # -- faults --

    def inject_fault(
        self,
        mode: str,
        count: int = 1,
        *,
        routes: list[str] | None = None,
        status: int = 500,
        hang_s: float = 30.0,
        should_retry: bool | None = True,
    ) -> JSON:
        """Fail the next `count` matching /v1 requests (-1: until cleared).

        `mode` is "error" (Stripe's api_error with `status`), "hang" (fail
        only after `hang_s`), "rate_limit" (429) or "delay" (answer normally,
        `hang_s` late); `routes` like ["POST /v1/checkout/sessions"], default
        every /v1 route. An error carries `Stripe-Should-Retry: true`, or
        `false`, or none (`should_retry=None`).
        """
        fault = {
            "mode": mode,
            "count": count,
            "status": status,
            "hang_s": hang_s,
            "should_retry": should_retry,
        }
        if routes is not None:
            fault["routes"] = routes
        return self._call("POST", "/faults", fault)

    def faults(self) -> list[JSON]:
        return list(self._call("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def webhook_secret(self, endpoint_id: str) -> str:
        return str(self._call("GET", f"/webhook_endpoints/{endpoint_id}/secret")["secret"])

    def reset(self) -> None:
        self._call("POST", "/reset")

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "/healthz").get("ok"))
        except httpx.HTTPError:
            return False
