"""Plan protection for functions: ``requires_plan`` and ``requires_feature``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from billing_client._errors import EntitlementRequired, FeatureRequired, PlanRequired
from billing_client._policy import FAIL_CLOSED, FailurePolicy
from billing_client._types import PlanCheck

P = ParamSpec("P")
R = TypeVar("R")

AccountFrom = str | Callable[[inspect.BoundArguments], str]
"""A parameter name, or a callable that gets the call's bound arguments."""


class PlanChecker(Protocol):
    """What the decorators need of a client: BillingClient, FakeBillingClient."""

    def check_access(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        on_unavailable: FailurePolicy = FAIL_CLOSED,
    ) -> PlanCheck: ...


class AsyncPlanChecker(Protocol):
    """What async decorators need: AsyncBillingClient, FakeAsyncBillingClient."""

    def check_access(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        on_unavailable: FailurePolicy = FAIL_CLOSED,
    ) -> Awaitable[PlanCheck]: ...


@dataclass
class _Defaults:
    client: PlanChecker | None = None
    async_client: AsyncPlanChecker | None = None


_defaults = _Defaults()


def configure(
    *, client: PlanChecker | None = None, async_client: AsyncPlanChecker | None = None
) -> None:
    """Sets the clients that decorators without ``client=`` use: ``client``
    for plain functions, ``async_client`` for coroutine functions. Call once
    at start-up (decorators look the default up at call time, so decorating
    at import time before configuring is fine). None clears a default."""
    _defaults.client = client
    _defaults.async_client = async_client


def default_client() -> PlanChecker:
    if _defaults.client is None:
        raise RuntimeError("no billing client: pass client=... or call configure(client=...)")
    return _defaults.client


def default_async_client() -> AsyncPlanChecker:
    if _defaults.async_client is None:
        raise RuntimeError(
            "no async billing client: pass client=... or call configure(async_client=...)"
        )
    return _defaults.async_client


Extractor = Callable[[tuple[Any, ...], dict[str, Any]], str]


def account_extractor(fn: Callable[..., Any], account: AccountFrom) -> Extractor:
    """Finds the account id among a call's arguments, cheaply for a name."""
    signature = inspect.signature(fn)
    if callable(account):
        from_bound = account

        def by_callable(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return _as_account(from_bound(bound))

        return by_callable

    param = signature.parameters.get(account)
    if param is None:
        raise TypeError(
            f"{fn.__qualname__}() has no parameter {account!r} to take the account from"
        )
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    position = list(signature.parameters).index(account) if param.kind in positional else None
    by_keyword = param.kind is not inspect.Parameter.POSITIONAL_ONLY
    default = param.default

    # Reading args/kwargs directly instead of Signature.bind keeps a cached
    # check within a few microseconds.
    def by_name(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if position is not None and position < len(args):
            return _as_account(args[position])
        if by_keyword and account in kwargs:
            return _as_account(kwargs[account])
        if default is not inspect.Parameter.empty:
            return _as_account(default)
        raise TypeError(f"{fn.__qualname__}() missing argument {account!r}")

    return by_name


def _as_account(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"account id must be a non-empty str, got {value!r}")
    return value


def requires_plan(
    plan: str,
    *,
    account: AccountFrom = "account_id",
    client: PlanChecker | AsyncPlanChecker | None = None,
    on_unavailable: FailurePolicy = FAIL_CLOSED,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Lets calls through only for accounts on ``plan`` or a higher one.

    Works on plain and ``async def`` functions; the wrapped function keeps its
    signature. ``account`` names the parameter holding the account id, or is
    a callable receiving the call's ``inspect.BoundArguments``. Denials raise
    ``PlanRequired``; an unreachable billing service is handled by
    ``on_unavailable`` (default: raise ``Unavailable``).
    """
    return _guard("plan", plan, account, client, on_unavailable)


def requires_feature(
    feature: str,
    *,
    account: AccountFrom = "account_id",
    client: PlanChecker | AsyncPlanChecker | None = None,
    on_unavailable: FailurePolicy = FAIL_CLOSED,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Lets calls through only for accounts whose plan includes ``feature``;
    denials raise ``FeatureRequired``. Otherwise as ``requires_plan``."""
    return _guard("feature", feature, account, client, on_unavailable)


def _guard(
    kind: str,
    name: str,
    account: AccountFrom,
    client: PlanChecker | AsyncPlanChecker | None,
    policy: FailurePolicy,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    plan = name if kind == "plan" else None
    feature = name if kind == "feature" else None
    denied: type[EntitlementRequired] = PlanRequired if kind == "plan" else FeatureRequired

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        extract = account_extractor(fn, account)
        if inspect.iscoroutinefunction(fn):
            async_fn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                account_id = extract(args, kwargs)
                checker = client if client is not None else default_async_client()
                answer: Any = checker.check_access(
                    account_id, plan=plan, feature=feature, on_unavailable=policy
                )
                # A sync checker (a fake) answers at once; a real one is awaited.
                check = await answer if inspect.isawaitable(answer) else answer
                if not check.allowed:
                    raise denied(account_id, name, check)
                return await async_fn(*args, **kwargs)

            return cast(Callable[P, R], guarded_async)

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            account_id = extract(args, kwargs)
            checker = cast(PlanChecker, client if client is not None else default_client())
            check = checker.check_access(
                account_id, plan=plan, feature=feature, on_unavailable=policy
            )
            if not check.allowed:
                raise denied(account_id, name, check)
            return fn(*args, **kwargs)

        return guarded

    return decorate
