"""What a plan check does when the billing service cannot be reached."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from billing_client._cache import Key, PlanCache
from billing_client._errors import BillingError, is_unreachable
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
    """

    mode: FailureMode = FailureMode.CLOSED
    max_stale: float = 0.0

    def __post_init__(self) -> None:
        if self.max_stale < 0:
            raise ValueError("max_stale must be >= 0")


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
        return cache.get_or_load(key, fetch)
    except BillingError as error:
        if not is_unreachable(error):
            raise
        return _fallback(cache, key, policy, error)


async def resolve_async(
    cache: PlanCache,
    key: Key,
    fetch: Callable[[], Awaitable[PlanCheck]],
    policy: FailurePolicy,
) -> PlanCheck:
    try:
        return await cache.get_or_load_async(key, fetch)
    except BillingError as error:
        if not is_unreachable(error):
            raise
        return _fallback(cache, key, policy, error)
