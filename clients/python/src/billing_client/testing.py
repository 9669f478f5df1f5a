"""Test doubles for services that use billing_client.

``FakeBillingClient`` answers every method of ``BillingClient`` from memory,
so that code protected by ``requires_plan``/``requires_feature`` runs in
tests without a billing server::

    fake = FakeBillingClient()
    fake.set_plan("acct_1", "pro")
    configure(client=fake, async_client=fake.aio)

Its catalogue is the service's default one (a copy of the server's
``plans.toml`` ships with this package), with the same status rules: a
past_due subscription keeps its plan for the catalogue's grace period
(``grace_period_days``, 7 by default) from ``past_due_since``. Pass
``plans=``/``grace_period=`` for others, or ``FakeBillingClient.from_catalog``
with the plans file the service runs with. ``set_unavailable()`` simulates an outage so
that failure policies can be tested; fallbacks are counted in ``stats`` as
with the real client. ``watch_entitlements()`` returns a handle that is
always connected and does nothing: the fake's answers are never stale.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from billing_client._aio_watch import AsyncEntitlementWatch
from billing_client._cache import PlanCache
from billing_client._convert import requirement
from billing_client._errors import (
    BillingError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from billing_client._fake_catalog import DEFAULT_GRACE_PERIOD, FakeCatalog, load_catalog
from billing_client._policy import FAIL_CLOSED, FailurePolicy, resolve
from billing_client._stats import CacheStats
from billing_client._types import (
    CancellationTiming,
    CheckoutSession,
    DenialReason,
    Entitlements,
    Plan,
    PlanCheck,
    PortalSession,
    Proration,
    Subscription,
    SubscriptionStatus,
)
from billing_client._watch import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_WATCH_TTL,
    EntitlementWatch,
)

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_PLANS",
    "FakeAsyncBillingClient",
    "FakeBillingClient",
]

_DEFAULT_CATALOG = load_catalog()
DEFAULT_PLANS: tuple[Plan, ...] = _DEFAULT_CATALOG.plans
_T = TypeVar("_T")
_PERIOD = timedelta(days=30)
_TERMINAL = {SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED}


@dataclasses.dataclass(frozen=True)
class _Standing:
    subscription: Subscription | None
    plan: Plan | None
    features: tuple[str, ...]
    lapse: DenialReason | None
    valid_until: datetime | None = None
    grace_period_end: datetime | None = None


@dataclasses.dataclass
class _Account:
    subscription: Subscription
    features: tuple[str, ...] | None


class _FakeWatch:
    """A watch that is always connected: the fake's cache is always current."""

    def __init__(self) -> None:
        self.stopped = False

    @property
    def connected(self) -> bool:
        return not self.stopped

    def wait_connected(self, timeout: float | None = None) -> bool:
        return not self.stopped

    def stop(self, timeout: float | None = 5.0) -> None:
        self.stopped = True


class _FakeAsyncWatch:
    def __init__(self, watch: _FakeWatch) -> None:
        self._watch = watch

    @property
    def connected(self) -> bool:
        return self._watch.connected

    async def wait_connected(self, timeout: float | None = None) -> bool:
        return self._watch.connected

    async def stop(self) -> None:
        self._watch.stop()


class FakeBillingClient:
    """An in-memory ``BillingClient`` (same methods, same errors)."""

    def __init__(
        self,
        plans: tuple[Plan, ...] = DEFAULT_PLANS,
        *,
        clock: Callable[[], float] = time.time,
        grace_period: timedelta = _DEFAULT_CATALOG.grace_period,
        limits: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        self.plans = tuple(sorted(plans, key=lambda p: p.rank))
        self.grace_period = grace_period
        # The default catalogue's limits unless other plans are given.
        given = (
            limits
            if limits is not None
            else (_DEFAULT_CATALOG.limits if plans is DEFAULT_PLANS else {})
        )
        self._limits = {name: dict(values) for name, values in given.items()}
        self._allowed = _DEFAULT_CATALOG.allowed
        self._grace = _DEFAULT_CATALOG.grace
        self._trial_days = _DEFAULT_CATALOG.trial_days if plans is DEFAULT_PLANS else {}
        self._max_trial_days = _DEFAULT_CATALOG.max_trial_days
        # TTL 0: every check sees the latest set_plan, yet the last answers are
        # kept so that a serve_stale policy behaves as with the real client
        # (``clock`` lets a test age them).
        self.cache = PlanCache(ttl=0, clock=clock)
        self.calls: list[tuple[str, str]] = []
        self._accounts: dict[str, _Account] = {}
        self._sessions: dict[str, tuple[str, str, bool]] = {}
        self._trials: dict[str, int] = {}
        # (method, idempotency key) -> (the request, its answer or error)
        self._replays: dict[tuple[str, str], tuple[object, object]] = {}
        self._unavailable = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.watcher: EntitlementWatch | None = None

    @classmethod
    def from_catalog(cls, path: Path, *, clock: Callable[[], float] = time.time) -> Self:
        """A fake answering from the plans file at ``path``, as the service
        does when ``PAYMENTSVC_PLANS_FILE`` names it."""
        return cls._of(load_catalog(path), clock)

    @classmethod
    def _of(cls, catalog: FakeCatalog, clock: Callable[[], float]) -> Self:
        fake = cls(
            catalog.plans, clock=clock, grace_period=catalog.grace_period, limits=catalog.limits
        )
        fake._allowed, fake._grace = catalog.allowed, catalog.grace
        fake._trial_days, fake._max_trial_days = catalog.trial_days, catalog.max_trial_days
        return fake

    # Arranging state -------------------------------------------------------

    def set_plan(
        self,
        account_id: str,
        plan: str,
        *,
        features: tuple[str, ...] | list[str] | None = None,
        status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
        current_period_end: datetime | None = None,
        past_due_since: datetime | None = None,
        cancel_at_period_end: bool = False,
    ) -> Subscription:
        """Gives the account a subscription to ``plan`` (``features`` replaces
        the plan's feature list for this account). A past_due subscription's
        grace runs from ``past_due_since`` (default: now)."""
        self._plan(plan)
        now = datetime.now(UTC)
        if status is SubscriptionStatus.PAST_DUE and past_due_since is None:
            past_due_since = now
        with self._lock:
            previous = self._accounts.get(account_id)
            version = previous.subscription.state_version + 1 if previous else 1
            subscription = Subscription(
                account_id=account_id,
                plan=plan,
                status=status,
                stripe_customer_id=f"cus_fake_{account_id}",
                stripe_subscription_id=f"sub_fake_{next(self._ids)}",
                current_period_start=now,
                current_period_end=current_period_end or now + _PERIOD,
                cancel_at_period_end=cancel_at_period_end,
                canceled_at=now if status is SubscriptionStatus.CANCELED else None,
                past_due_since=past_due_since if status is SubscriptionStatus.PAST_DUE else None,
                state_version=version,
                state_updated_at=now,
            )
            self._accounts[account_id] = _Account(
                subscription, tuple(features) if features is not None else None
            )
        self.cache.invalidate(account_id)
        return subscription

    def clear_plan(self, account_id: str) -> None:
        """The account goes back to having no subscription (the free plan)."""
        with self._lock:
            self._accounts.pop(account_id, None)
        self.cache.invalidate(account_id)

    def set_unavailable(self, unavailable: bool = True) -> None:
        """While set, every call raises ``Unavailable`` as if the server were down."""
        self._unavailable = unavailable

    def complete_checkout(self, session_id: str) -> None:
        """The customer paid: ``confirm_checkout`` will now succeed."""
        account_id, plan, _ = self._sessions[session_id]
        self._sessions[session_id] = (account_id, plan, True)

    @property
    def aio(self) -> FakeAsyncBillingClient:
        """An ``AsyncBillingClient`` twin sharing this fake's state."""
        return FakeAsyncBillingClient(self)

    @property
    def stats(self) -> CacheStats:
        return self.cache.stats

    def _enter(self, method: str, account_id: str = "") -> None:
        self.calls.append((method, account_id))
        if self._unavailable:
            raise Unavailable("billing service unavailable (fake)", reason="UNAVAILABLE")

    def _once(self, method: str, key: str | None, request: object, call: Callable[[], _T]) -> _T:
        """As the server: a repeated idempotency key replays the first answer
        (or error); with another request it is refused."""
        if not key:
            return call()
        if (method, key) in self._replays:
            first, outcome = self._replays[(method, key)]
            if first != request:
                raise InvalidArgument(
                    "idempotency_key was already used with a different request",
                    reason="IDEMPOTENCY_KEY_REUSED",
                    field_violations=(("idempotency_key", "already used"),),
                )
            if isinstance(outcome, BillingError):
                raise outcome
            return outcome  # type: ignore[return-value]
        try:
            result = call()
        except BillingError as exc:
            self._replays[(method, key)] = (request, exc)
            raise
        self._replays[(method, key)] = (request, result)
        return result

    def _plan(self, name: str) -> Plan:
        for plan in self.plans:
            if plan.name == name:
                return plan
        raise NotFound(f"unknown plan {name!r}", reason="PLAN_NOT_FOUND", metadata={"plan": name})

    # The client's interface ------------------------------------------------

    def watch_entitlements(
        self,
        *,
        watch_ttl: float = DEFAULT_WATCH_TTL,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> EntitlementWatch:
        if self.watcher is not None:
            raise RuntimeError("this client is already watching entitlements")
        self.watcher = _FakeWatch()
        return self.watcher

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def check_plan(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        timeout: float | None = None,
    ) -> PlanCheck:
        kind, name = requirement(plan, feature)
        self._enter("check_plan", account_id)
        return self._answer(account_id, kind, name)

    def check_access(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        on_unavailable: FailurePolicy = FAIL_CLOSED,
    ) -> PlanCheck:
        kind, name = requirement(plan, feature)

        def fetch() -> PlanCheck:
            self._enter("check_plan", account_id)
            return self._answer(account_id, kind, name)

        return resolve(self.cache, (account_id, kind, name), fetch, on_unavailable)

    def _standing(self, account_id: str) -> _Standing:
        """The account's subscription, the plan and features it entitles to
        now, and why the subscription gives nothing (the server's rules)."""
        free = next((p for p in self.plans if not p.purchasable), None)
        with self._lock:
            account = self._accounts.get(account_id)
        if account is None:
            return _Standing(
                None, free, free.features if free else (), DenialReason.NO_SUBSCRIPTION
            )
        sub = account.subscription
        now = datetime.now(UTC)

        def entitled(valid_until: datetime | None, grace_end: datetime | None) -> _Standing:
            current = self._plan(sub.plan)
            return _Standing(
                sub, current, account.features or current.features, None, valid_until, grace_end
            )

        def lapsed(reason: DenialReason, grace_end: datetime | None = None) -> _Standing:
            return _Standing(sub, free, free.features if free else (), reason, None, grace_end)

        # A subscription set to cancel at the period's end keeps its plan
        # only until then.
        ends_at = sub.current_period_end if sub.cancel_at_period_end else None
        if ends_at is not None and now >= ends_at:
            return lapsed(DenialReason.SUBSCRIPTION_CANCELED)
        if sub.status in self._allowed:
            return entitled(ends_at, None)
        if sub.status in self._grace:
            anchor = sub.past_due_since or sub.current_period_start or now
            grace_end = anchor + self.grace_period
            if now < grace_end:
                return entitled(min(grace_end, ends_at) if ends_at else grace_end, grace_end)
            return lapsed(DenialReason.PAYMENT_OVERDUE, grace_end)
        if sub.status is SubscriptionStatus.CANCELED:
            return lapsed(DenialReason.SUBSCRIPTION_CANCELED)
        return lapsed(DenialReason.SUBSCRIPTION_INACTIVE)

    def _answer(self, account_id: str, kind: str, name: str) -> PlanCheck:
        standing = self._standing(account_id)
        sub, current, features = standing.subscription, standing.plan, standing.features
        if kind == "plan":
            needed = self._plan(name)
            allowed = current is not None and current.rank >= needed.rank
            required = needed.name
        else:
            having = [p for p in self.plans if name in p.features]
            # A feature only ``set_plan(features=...)`` names is known too.
            if not having and name not in features:
                raise NotFound(
                    f"no plan includes feature {name!r}",
                    reason="FEATURE_NOT_FOUND",
                    metadata={"feature": name},
                )
            allowed = name in features
            required = having[0].name if having else ""
        reason: DenialReason | None = None
        if not allowed:
            shortfall = (
                DenialReason.PLAN_TOO_LOW if kind == "plan" else DenialReason.FEATURE_NOT_INCLUDED
            )
            reason = standing.lapse or shortfall
        return PlanCheck(
            allowed=allowed,
            denial_reason=reason,
            plan=current.name if current else None,
            status=sub.status if sub else SubscriptionStatus.NONE,
            current_period_end=sub.current_period_end if sub else None,
            valid_until=standing.valid_until,
            grace_period_end=standing.grace_period_end,
            state_version=sub.state_version if sub else 0,
            state_updated_at=sub.state_updated_at if sub else None,
            required_plan=None if allowed else required or None,
        )

    def get_entitlements(self, account_id: str, *, timeout: float | None = None) -> Entitlements:
        self._enter("get_entitlements", account_id)
        standing = self._standing(account_id)
        sub, current = standing.subscription, standing.plan
        return Entitlements(
            plan=current.name if current else None,
            plan_rank=current.rank if current else 0,
            status=sub.status if sub else SubscriptionStatus.NONE,
            features=frozenset(standing.features),
            limits=dict(self._limits.get(current.name, {})) if current else {},
            valid_until=standing.valid_until,
            current_period_end=sub.current_period_end if sub else None,
            grace_period_end=standing.grace_period_end,
            denial_reason=standing.lapse,
            state_version=sub.state_version if sub else 0,
            state_updated_at=sub.state_updated_at if sub else None,
        )

    def list_plans(self, *, timeout: float | None = None) -> list[Plan]:
        self._enter("list_plans")
        return list(self.plans)

    def get_subscription(self, account_id: str, *, timeout: float | None = None) -> Subscription:
        self._enter("get_subscription", account_id)
        with self._lock:
            account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(
                f"account {account_id!r} has no subscription",
                reason="SUBSCRIPTION_NOT_FOUND",
                metadata={"account_id": account_id},
            )
        return account.subscription

    def create_checkout(
        self,
        account_id: str,
        plan: str,
        *,
        customer_email: str | None = None,
        idempotency_key: str | None = None,
        trial_days: int | None = None,
        timeout: float | None = None,
    ) -> CheckoutSession:
        self._enter("create_checkout", account_id)
        return self._once(
            "create_checkout",
            idempotency_key,
            (account_id, plan, customer_email, trial_days),
            lambda: self._checkout(account_id, plan, trial_days),
        )

    def _checkout(self, account_id: str, plan: str, trial_days: int | None) -> CheckoutSession:
        if trial_days is not None and not 0 <= trial_days <= self._max_trial_days:
            raise InvalidArgument(
                f"trial_days must be between 0 and {self._max_trial_days}",
                reason="TRIAL_TOO_LONG",
            )
        if not self._plan(plan).purchasable:
            raise FailedPrecondition(
                f"plan {plan!r} has no price and cannot be bought", reason="PLAN_NOT_PURCHASABLE"
            )
        with self._lock:
            account = self._accounts.get(account_id)
        if account is not None and account.subscription.status not in _TERMINAL:
            raise FailedPrecondition(
                f"account {account_id!r} already has a subscription "
                f"({account.subscription.status}); use ChangePlan to move it to another plan",
                reason="SUBSCRIPTION_EXISTS",
            )
        session_id = f"cs_fake_{next(self._ids)}"
        self._sessions[session_id] = (account_id, plan, False)
        self._trials[session_id] = (
            self._trial_days.get(plan, 0) if trial_days is None else trial_days
        )
        return CheckoutSession(
            session_id=session_id,
            url=f"https://checkout.fake/{session_id}",
            expires_at=datetime.now(UTC) + timedelta(hours=24),
        )

    def confirm_checkout(
        self, session_id: str, *, account_id: str | None = None, timeout: float | None = None
    ) -> Subscription:
        self._enter("confirm_checkout", account_id or "")
        if session_id not in self._sessions:
            raise NotFound(f"unknown session {session_id!r}", reason="SESSION_NOT_FOUND")
        owner, plan, paid = self._sessions[session_id]
        if account_id is not None and account_id != owner:
            raise PermissionDenied(
                "checkout session belongs to another account", reason="CHECKOUT_ACCOUNT_MISMATCH"
            )
        if not paid:
            raise FailedPrecondition("checkout not complete", reason="CHECKOUT_NOT_COMPLETE")
        trial = self._trials.get(session_id, 0)
        if trial:
            return self.set_plan(
                owner,
                plan,
                status=SubscriptionStatus.TRIALING,
                current_period_end=datetime.now(UTC) + timedelta(days=trial),
            )
        return self.set_plan(owner, plan)

    def change_plan(
        self,
        account_id: str,
        plan: str,
        *,
        proration: Proration | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        self._enter("change_plan", account_id)

        def change() -> Subscription:
            self._plan(plan)
            current = self._live(account_id)
            return self.set_plan(
                account_id,
                plan,
                status=current.status,
                current_period_end=current.current_period_end,
            )

        return self._once("change_plan", idempotency_key, (account_id, plan, proration), change)

    def cancel_subscription(
        self,
        account_id: str,
        *,
        timing: CancellationTiming = CancellationTiming.AT_PERIOD_END,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        self._enter("cancel_subscription", account_id)
        return self._once(
            "cancel_subscription",
            idempotency_key,
            (account_id, timing),
            lambda: self._cancel(account_id, timing),
        )

    def _cancel(self, account_id: str, timing: CancellationTiming) -> Subscription:
        current = self._live(account_id)
        if timing is CancellationTiming.IMMEDIATELY:
            return self.set_plan(account_id, current.plan, status=SubscriptionStatus.CANCELED)
        with self._lock:
            account = self._accounts[account_id]
            # Stripe stamps canceled_at when the cancellation is asked for.
            account.subscription = dataclasses.replace(
                current,
                cancel_at_period_end=True,
                canceled_at=datetime.now(UTC),
                state_version=current.state_version + 1,
            )
            result = account.subscription
        self.cache.invalidate(account_id)
        return result

    def _live(self, account_id: str) -> Subscription:
        with self._lock:
            account = self._accounts.get(account_id)
        # As the server: anything but a finished subscription can be changed.
        if account is None or account.subscription.status in _TERMINAL:
            raise FailedPrecondition(
                f"account {account_id!r} has no live subscription",
                reason="NO_LIVE_SUBSCRIPTION",
                metadata={"account_id": account_id},
            )
        return account.subscription

    def create_portal_session(
        self, account_id: str, *, timeout: float | None = None
    ) -> PortalSession:
        self._enter("create_portal_session", account_id)
        return PortalSession(url=f"https://portal.fake/{account_id}")


class FakeAsyncBillingClient:
    """An in-memory ``AsyncBillingClient``; ``FakeBillingClient().aio`` shares state."""

    def __init__(self, fake: FakeBillingClient | None = None) -> None:
        self.fake = fake if fake is not None else FakeBillingClient()
        self.watcher: AsyncEntitlementWatch | None = None

    @property
    def stats(self) -> CacheStats:
        return self.fake.stats

    @property
    def cache(self) -> PlanCache:
        return self.fake.cache

    def set_plan(
        self,
        account_id: str,
        plan: str,
        *,
        features: tuple[str, ...] | list[str] | None = None,
        status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
        current_period_end: datetime | None = None,
        past_due_since: datetime | None = None,
        cancel_at_period_end: bool = False,
    ) -> Subscription:
        return self.fake.set_plan(
            account_id,
            plan,
            features=features,
            status=status,
            current_period_end=current_period_end,
            past_due_since=past_due_since,
            cancel_at_period_end=cancel_at_period_end,
        )

    def watch_entitlements(
        self,
        *,
        watch_ttl: float = DEFAULT_WATCH_TTL,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> AsyncEntitlementWatch:
        if self.watcher is not None:
            raise RuntimeError("this client is already watching entitlements")
        self.watcher = _FakeAsyncWatch(_FakeWatch())
        return self.watcher

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def check_plan(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        timeout: float | None = None,
    ) -> PlanCheck:
        return self.fake.check_plan(account_id, plan=plan, feature=feature)

    async def check_access(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        on_unavailable: FailurePolicy = FAIL_CLOSED,
    ) -> PlanCheck:
        return self.fake.check_access(
            account_id, plan=plan, feature=feature, on_unavailable=on_unavailable
        )

    async def get_entitlements(
        self, account_id: str, *, timeout: float | None = None
    ) -> Entitlements:
        return self.fake.get_entitlements(account_id)

    async def list_plans(self, *, timeout: float | None = None) -> list[Plan]:
        return self.fake.list_plans()

    async def get_subscription(
        self, account_id: str, *, timeout: float | None = None
    ) -> Subscription:
        return self.fake.get_subscription(account_id)

    async def create_checkout(
        self,
        account_id: str,
        plan: str,
        *,
        customer_email: str | None = None,
        idempotency_key: str | None = None,
        trial_days: int | None = None,
        timeout: float | None = None,
    ) -> CheckoutSession:
        return self.fake.create_checkout(
            account_id,
            plan,
            customer_email=customer_email,
            idempotency_key=idempotency_key,
            trial_days=trial_days,
        )

    async def confirm_checkout(
        self, session_id: str, *, account_id: str | None = None, timeout: float | None = None
    ) -> Subscription:
        return self.fake.confirm_checkout(session_id, account_id=account_id)

    async def change_plan(
        self,
        account_id: str,
        plan: str,
        *,
        proration: Proration | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        return self.fake.change_plan(
            account_id, plan, proration=proration, idempotency_key=idempotency_key
        )

    async def cancel_subscription(
        self,
        account_id: str,
        *,
        timing: CancellationTiming = CancellationTiming.AT_PERIOD_END,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        return self.fake.cancel_subscription(
            account_id, timing=timing, idempotency_key=idempotency_key
        )

    async def create_portal_session(
        self, account_id: str, *, timeout: float | None = None
    ) -> PortalSession:
        return self.fake.create_portal_session(account_id)
