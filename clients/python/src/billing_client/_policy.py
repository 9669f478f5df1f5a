"""What a plan check does when the billing service cannot be reached."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from billing_client._cache import Key, PlanCache
from billing_client._errors import BillingError, Unavailable, is_unreachable
from billing_client._types import AnswerSource, PlanCheck, SubscriptionStatus

log = logging.getLogger("billing_client")


class FailureMode(StrEnum):
    CLOSED = "closed"
    OPEN = "open"


@dataclass(frozen=True)
class FailurePolicy:
    """Applies when a check meets UNAVAILABLE or DEADLINE_EXCEEDED.

    First, when ``max_stale`` > 0, the last known answer is served if it went
    stale at most ``max_stale`` seconds ago; otherwise ``mode`` decides:
    CLOSED raises the ``Unavailable``/``DeadlineExceeded`` error (the caller
    is neither allowed nor told to upgrade), OPEN allows the call. Every
    fallback is logged (account id only) and counted in the cache's stats.

    The server itself answers from its last-known state for a while when it
    loses its database, marking the answer ``stale``. ``max_server_stale``
    (seconds) bounds how old such an answer may be: an older one is treated
    as if the server were unreachable. None accepts what the server serves
    (the server stops after its own PAYMENTSVC_STALE_SERVE_MAX).
    """

    mode: FailureMode = FailureMode.CLOSED
    max_stale: float = 0.0
    max_server_stale: float | None = None

    def __post_init__(self) -> None:
        if self.max_stale < 0:
            raise ValueError("max_stale must be >= 0")
        if self.max_server_stale is not None and self.max_server_stale < 0:
            raise ValueError("max_server_stale must be >= 0 or None")

    def refuses(self, check: PlanCheck, now: float) -> bool:
        """A stale server answer older than this policy accepts."""
        if not check.stale or self.max_server_stale is None:
            return False
        known = check.known_current_at
        return known is None or now - known.timestamp() > self.max_server_stale


FAIL_CLOSED = FailurePolicy(FailureMode.CLOSED)
FAIL_OPEN = FailurePolicy(FailureMode.OPEN)


def serve_stale(max_stale: float, *, then: FailurePolicy = FAIL_CLOSED) -> FailurePolicy:
    """Serve the last known answer up to ``max_stale`` seconds stale, then ``then``."""
    return FailurePolicy(then.mode, max_stale)


_FAIL_OPEN_ANSWER = PlanCheck(
    allowed=True,
    denial_reason=None,
    plan=None,
    status=SubscriptionStatus.UNKNOWN,
    source=AnswerSource.FAIL_OPEN,
)


def _fallback(cache: PlanCache, key: Key, policy: FailurePolicy, error: BillingError) -> PlanCheck:
    account_id, kind, name = key
    if policy.max_stale > 0:
        stale = cache.get_stale(key, policy.max_stale)
        if stale is not None:
            cache.count("fallback_stale")
            log.warning(
                "billing service unreachable (%s): serving the last answer for account %s "
                "(%s %s), %.1fs stale",
                error.code.name,
                account_id,
                kind,
                name,
                stale[1],
            )
            return dataclasses.replace(stale[0], source=AnswerSource.STALE)
    if policy.mode is FailureMode.OPEN:
        cache.count("fallback_fail_open")
        log.warning(
            "billing service unreachable (%s): failing open for account %s (%s %s)",
            error.code.name,
            account_id,
            kind,
            name,
        )
        return _FAIL_OPEN_ANSWER
    cache.count("fallback_fail_closed")
    log.warning(
        "billing service unreachable (%s): failing closed for account %s (%s %s)",
        error.code.name,
        account_id,
        kind,
        name,
    )
    raise error


def resolve(
    cache: PlanCache, key: Key, fetch: Callable[[], PlanCheck], policy: FailurePolicy
) -> PlanCheck:
    """A cached answer, else one shared CheckPlan call, else the policy's fallback."""
    try:
        check = cache.get_or_load(key, fetch)
    except BillingError as error:
        if not is_unreachable(error):
            raise
        return _fallback(cache, key, policy, error)
    return _accepted(cache, key, policy, check)


async def resolve_async(
    cache: PlanCache,
    key: Key,
    fetch: Callable[[], Awaitable[PlanCheck]],
    policy: FailurePolicy,
) -> PlanCheck:
    try:
        check = await cache.get_or_load_async(key, fetch)
    except BillingError as error:
        if not is_unreachable(error):
            raise
        return _fallback(cache, key, policy, error)
    return _accepted(cache, key, policy, check)


def _accepted(cache: PlanCache, key: Key, policy: FailurePolicy, check: PlanCheck) -> PlanCheck:
    if not policy.refuses(check, cache.now()):
        return check
    cache.invalidate(key[0])  # not to be served again as a fresh answer
    too_old = Unavailable(
        "the billing service answered from state older than max_server_stale",
        reason="SERVER_STALE",
    )
    return _fallback(cache, key, policy, too_old)
