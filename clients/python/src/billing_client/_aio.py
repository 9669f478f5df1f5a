"""The asyncio client, over a grpc.aio channel."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import grpc

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_client import _channel, _convert
from billing_client._aio_watch import AsyncEntitlementWatch, TaskWatch
from billing_client._cache import PlanCache
from billing_client._catalog import CatalogCopy, knows
from billing_client._channel import TLS, ChannelOptions
from billing_client._client import DEFAULT_CHECK_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT
from billing_client._errors import BillingError, from_rpc_error
from billing_client._metadata import CallMetadata
from billing_client._policy import FAIL_CLOSED, FailurePolicy, resolve_async
from billing_client._stats import CacheStats
from billing_client._types import (
    CancellationTiming,
    CheckoutSession,
    Entitlements,
    Plan,
    PlanCheck,
    PortalSession,
    Proration,
    Subscription,
)
from billing_client._watch import DEFAULT_HEARTBEAT_TIMEOUT, DEFAULT_WATCH_TTL, WatchSettings


class AsyncBillingClient:
    """The asyncio twin of ``BillingClient``: same arguments, same methods,
    awaited. Create it inside the event loop that uses it (``watch=True``
    starts a task there); ``async with`` or ``await close()``."""

    def __init__(
        self,
        target: str,
        *,
        service_name: str,
        token: str | None = None,
        token_provider: Callable[[], str] | None = None,
        tls: TLS | None = None,
        insecure: bool = False,
        check_timeout: float = DEFAULT_CHECK_TIMEOUT,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        cache: PlanCache | None = None,
        channel_options: ChannelOptions = (),
        watch: bool = False,
        watch_ttl: float = DEFAULT_WATCH_TTL,
    ) -> None:
        if token is not None and token_provider is not None:
            raise ValueError("give token or token_provider, not both")
        self.target = target
        self.check_timeout = check_timeout
        self.timeout = timeout
        self.cache = cache if cache is not None else PlanCache()
        self._catalog = CatalogCopy()
        self._metadata = CallMetadata(service_name, token, token_provider)
        self._channel = _channel.aio_channel(
            target, tls, insecure, _channel.channel_options(max_attempts, channel_options)
        )
        self._stub: Any = billing_pb2_grpc.BillingServiceStub(self._channel)
        self.watcher: AsyncEntitlementWatch | None = None
        if watch:
            self.watch_entitlements(watch_ttl=watch_ttl)

    @property
    def stats(self) -> CacheStats:
        """Counters of ``check_access`` and of the entitlement watch."""
        return self.cache.stats

    def watch_entitlements(
        self,
        *,
        watch_ttl: float = DEFAULT_WATCH_TTL,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> AsyncEntitlementWatch:
        """Keeps the cache fresh from the server's change notices, in a task of
        the running loop (see ``BillingClient.watch_entitlements``); ``await
        stop()`` on the returned handle, or ``close()``, ends it."""
        if self.watcher is not None:
            raise RuntimeError("this client is already watching entitlements")
        settings = WatchSettings(watch_ttl, heartbeat_timeout, initial_backoff, max_backoff)
        self.watcher = TaskWatch(self.cache, self._open_watch, settings)
        return self.watcher

    def _open_watch(self, request: billing_pb2.WatchEntitlementsRequest) -> Any:
        return self._stub.WatchEntitlements(request, metadata=self._metadata.build())

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _call(self, method: str, request: Any, timeout: float | None) -> Any:
        try:
            return await getattr(self._stub, method)(
                request,
                timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata.build(),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    async def check_plan(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        timeout: float | None = None,
    ) -> PlanCheck:
        """Asks the server, uncached (see ``BillingClient.check_plan``)."""
        kind, name = _convert.requirement(plan, feature)
        return await self._check(account_id, kind, name, timeout)

    async def _check(
        self, account_id: str, kind: str, name: str, timeout: float | None
    ) -> PlanCheck:
        request = _convert.check_plan_request(
            account_id, kind, name, self.cache.min_state_version(account_id)
        )
        answer = await self._call(
            "CheckPlan", request, self.check_timeout if timeout is None else timeout
        )
        return _convert.plan_check(answer)

    async def check_access(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        on_unavailable: FailurePolicy = FAIL_CLOSED,
    ) -> PlanCheck:
        """Cached, single-flight check with a failure policy (see
        ``BillingClient.check_access``); concurrent tasks share one call."""
        kind, name = _convert.requirement(plan, feature)
        return await resolve_async(
            self.cache,
            (account_id, kind, name),
            lambda: self._check_filling(account_id, kind, name),
            on_unavailable,
        )

    async def _check_filling(self, account_id: str, kind: str, name: str) -> PlanCheck:
        """One GetEntitlements answers this check and fills the cache with
        every other plan and feature check of the account; CheckPlan when
        the catalogue is not at hand or does not know the name."""
        plans = await self._plans()
        if plans is None or not knows(plans, kind, name):
            return await self._check(account_id, kind, name, None)
        token = self.cache.fill_token(account_id)
        try:
            entitled = await self.get_entitlements(account_id)
        except BillingError as error:
            if error.code is not grpc.StatusCode.UNIMPLEMENTED:
                raise
            self._catalog.usable = False  # an older server: CheckPlan from now on
            return await self._check(account_id, kind, name, None)
        answers = _convert.plan_checks(entitled, plans)
        others = {(account_id, k, n): a for (k, n), a in answers.items() if (k, n) != (kind, name)}
        self.cache.put_filled(account_id, others, token)
        return answers[(kind, name)]

    async def _plans(self) -> list[Plan] | None:
        plans = self._catalog.current()
        if plans is None and self._catalog.due():
            try:
                plans = await self.list_plans(timeout=self.check_timeout)
            except BillingError:
                self._catalog.failed()
                return None
            self._catalog.fetched(plans)
        return plans

    async def get_entitlements(
        self, account_id: str, *, timeout: float | None = None
    ) -> Entitlements:
        """Everything the account may use now, in one call (uncached)."""
        request = billing_pb2.GetEntitlementsRequest(
            account_id=account_id, min_state_version=self.cache.min_state_version(account_id)
        )
        timeout = self.check_timeout if timeout is None else timeout
        return _convert.entitlements(await self._call("GetEntitlements", request, timeout))

    async def list_plans(self, *, timeout: float | None = None) -> list[Plan]:
        answer = await self._call("ListPlans", billing_pb2.ListPlansRequest(), timeout)
        return [_convert.plan(p) for p in answer.plans]

    async def get_subscription(
        self, account_id: str, *, timeout: float | None = None
    ) -> Subscription:
        request = billing_pb2.GetSubscriptionRequest(account_id=account_id)
        answer = await self._call("GetSubscription", request, timeout)
        return _convert.subscription(answer.subscription)

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
        request = _convert.create_checkout_request(
            account_id, plan, customer_email, idempotency_key, trial_days
        )
        return _convert.checkout_session(await self._call("CreateCheckout", request, timeout))

    async def confirm_checkout(
        self, session_id: str, *, account_id: str | None = None, timeout: float | None = None
    ) -> Subscription:
        request = billing_pb2.ConfirmCheckoutRequest(
            session_id=session_id, account_id=account_id or ""
        )
        answer = await self._call("ConfirmCheckout", request, timeout)
        result = _convert.subscription(answer.subscription)
        self.cache.wrote(result.account_id, result.state_version)
        return result

    async def change_plan(
        self,
        account_id: str,
        plan: str,
        *,
        proration: Proration | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        request = _convert.change_plan_request(account_id, plan, proration, idempotency_key)
        answer = await self._call("ChangePlan", request, timeout)
        result = _convert.subscription(answer.subscription)
        self.cache.wrote(account_id, result.state_version)
        return result

    async def cancel_subscription(
        self,
        account_id: str,
        *,
        timing: CancellationTiming = CancellationTiming.AT_PERIOD_END,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        request = _convert.cancel_request(account_id, timing, idempotency_key)
        answer = await self._call("CancelSubscription", request, timeout)
        result = _convert.subscription(answer.subscription)
        self.cache.wrote(account_id, result.state_version)
        return result

    async def create_portal_session(
        self, account_id: str, *, timeout: float | None = None
    ) -> PortalSession:
        request = billing_pb2.CreatePortalSessionRequest(account_id=account_id)
        return _convert.portal_session(await self._call("CreatePortalSession", request, timeout))
