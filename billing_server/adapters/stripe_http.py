"""The stripe library's HTTP client, held to the deadline of the call served.

The library retries network errors, 409s and 5xx by itself (honouring
Stripe-Should-Retry), with its own timeout per attempt. Left alone, a call
with a 2.5 s deadline could still send a third attempt seconds after its
caller gave up. Here each attempt waits at most what is left of the
deadline, and no retry starts that could not finish before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from billing_server import deadlines

# An attempt with less time than this left is not worth starting.
MIN_ATTEMPT_S = 0.05


class DeadlineBoundClient(stripe.RequestsClient):
    def __init__(self, timeout_s: float) -> None:
        self._limit_s = timeout_s
        super().__init__(timeout=timeout_s)

    # The library reads `_timeout` for every attempt; it is what is left.
    @property
    def _timeout(self) -> float:
        left = deadlines.remaining()
        if left is None:
            return self._limit_s
        return max(MIN_ATTEMPT_S, min(self._limit_s, left))

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._limit_s = value

    # RequestsClient.request's own signature differs from HTTPClient's.
    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        deadlines.check(f"sending {method.upper()} to Stripe")
        return super().request(method, url, headers, post_data)

    def _should_retry(
        self,
        response: tuple[Any, int, Mapping[str, str] | None] | None,
        api_connection_error: stripe.APIConnectionError | None,
        num_retries: int,
        max_network_retries: int | None,
    ) -> bool:
        left = deadlines.remaining()
        # The longest sleep the library may take before the next attempt.
        sleep_s = min(self.INITIAL_DELAY * 2**num_retries, self.MAX_DELAY)
        if left is not None and left < sleep_s + MIN_ATTEMPT_S:
            return False
        return bool(
            super()._should_retry(response, api_connection_error, num_retries, max_network_retries)
        )
