"""The synchronous client, over a grpc channel."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import grpc

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_client import _channel, _convert
from billing_client._cache import PlanCache
from billing_client._catalog import CatalogCopy, knows
from billing_client._channel import TLS, ChannelOptions
from billing_client._errors import BillingError, from_rpc_error
from billing_client._metadata import CallMetadata
from billing_client._policy import FAIL_CLOSED, FailurePolicy, resolve
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
from billing_client._watch import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_WATCH_TTL,
    EntitlementWatch,
    ThreadedWatch,
    WatchSettings,
)

DEFAULT_CHECK_TIMEOUT = 0.5
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_ATTEMPTS = 4


class BillingClient:
    """Calls paymentsvc's ``billing.v1.BillingService``, synchronously.

    ``target`` is ``host:port``. ``service_name`` names the calling service
    (sent as ``x-paymentsvc-caller``; the server's audit log records it).
    ``token`` or ``token_provider`` (a callable returning a fresh token, called
    on every call) is sent as ``authorization: Bearer <token>``. ``tls``
    holds root certificates and, for mutual TLS, a client certificate and key;
    ``insecure=True`` is for loopback only. ``check_timeout`` is the deadline
    of ``check_plan``/``check_access``, ``timeout`` that of the other methods
    (they may call Stripe); every method also takes ``timeout=``.
    UNAVAILABLE, ABORTED (another call holds the idempotency key) and a
    server's CANCELLED are retried with backoff (``max_attempts`` in all)
    within the deadline.
    ``cache`` serves ``check_access`` (default: ``PlanCache()``, 5 s TTL).
    ``watch=True`` keeps it fresh from the server's change notices, letting
    answers live ``watch_ttl`` seconds while notices can arrive (see
    ``watch_entitlements``).

    Errors are raised as ``BillingError`` subclasses. Use as a context
    manager or call ``close()``.
    """

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
        self._channel = _channel.sync_channel(
            target, tls, insecure, _channel.channel_options(max_attempts, channel_options)
        )
        self._stub: Any = billing_pb2_grpc.BillingServiceStub(self._channel)
        self.watcher: EntitlementWatch | None = None
        if watch:
            self.watch_entitlements(watch_ttl=watch_ttl)

    @property
    def stats(self) -> CacheStats:
        """Counters of ``check_access`` (hits, misses, rpcs, fallbacks) and of
        the entitlement watch (notices, resets, reconnects)."""
        return self.cache.stats

    def watch_entitlements(
        self,
        *,
        watch_ttl: float = DEFAULT_WATCH_TTL,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> EntitlementWatch:
        """Keeps the cache fresh from the server's change notices, in a daemon
        thread (``watch=True`` in the constructor calls this with defaults).

        A change drops the account's answers, a reset every answer. While the
        stream is connected (a message seen within ``heartbeat_timeout``), an
        answer loaded during that connection is reused for ``watch_ttl``
        seconds instead of the cache's TTL, never beyond its ``valid_until``;
        otherwise the TTL applies. A broken stream is reopened after
        ``initial_backoff`` (doubling up to ``max_backoff``, with jitter) with
        the last resume token. Needs the ``billing.read`` scope. ``stop()`` on
        the returned handle, or ``close()``, ends it."""
        if self.watcher is not None:
            raise RuntimeError("this client is already watching entitlements")
        settings = WatchSettings(watch_ttl, heartbeat_timeout, initial_backoff, max_backoff)
        self.watcher = ThreadedWatch(self.cache, self._open_watch, settings)
        return self.watcher

    def _open_watch(self, request: billing_pb2.WatchEntitlementsRequest) -> Any:
        return self._stub.WatchEntitlements(request, metadata=self._metadata.build())

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, request: Any, timeout: float | None) -> Any:
        try:
            return getattr(self._stub, method)(
                request,
                timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata.build(),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    # Entitlements ----------------------------------------------------------

    def check_plan(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        timeout: float | None = None,
    ) -> PlanCheck:
        """Asks the server, uncached, whether the account may use ``plan`` (or a
        higher one) or ``feature`` now. Give exactly one of them."""
        kind, name = _convert.requirement(plan, feature)
        return self._check(account_id, kind, name, timeout)

    def _check(self, account_id: str, kind: str, name: str, timeout: float | None) -> PlanCheck:
        request = _convert.check_plan_request(
            account_id, kind, name, self.cache.min_state_version(account_id)
        )
        answer = self._call(
            "CheckPlan", request, self.check_timeout if timeout is None else timeout
        )
        return _convert.plan_check(answer)

    def check_access(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        feature: str | None = None,
        on_unavailable: FailurePolicy = FAIL_CLOSED,
    ) -> PlanCheck:
        """Like ``check_plan`` but through the cache: a fresh cached answer is
        returned without a call, concurrent misses for the same question share
        one call, and ``on_unavailable`` decides what happens when the server
        cannot be reached. What the decorators use.

        A miss asks GetEntitlements and fills the cache with the answer of
        every plan and feature check of the account at once (from the
        catalogue, fetched once and reused for five minutes); a name the
        catalogue does not know is asked with CheckPlan."""
        kind, name = _convert.requirement(plan, feature)
        return resolve(
            self.cache,
            (account_id, kind, name),
            lambda: self._check_filling(account_id, kind, name),
            on_unavailable,
        )

    def get_entitlements(self, account_id: str, *, timeout: float | None = None) -> Entitlements:
        """Everything the account may use now, in one call (uncached)."""
        request = billing_pb2.GetEntitlementsRequest(
            account_id=account_id, min_state_version=self.cache.min_state_version(account_id)
        )
        timeout = self.check_timeout if timeout is None else timeout
        return _convert.entitlements(self._call("GetEntitlements", request, timeout))

    def _check_filling(self, account_id: str, kind: str, name: str) -> PlanCheck:
        """One GetEntitlements answers this check and fills the cache with
        every other plan and feature check of the account; CheckPlan when
        the catalogue is not at hand or does not know the name."""
        plans = self._plans()
        if plans is None or not knows(plans, kind, name):
            return self._check(account_id, kind, name, None)
        token = self.cache.fill_token(account_id)
        try:
            entitled = self.get_entitlements(account_id)
        except BillingError as error:
            if error.code is not grpc.StatusCode.UNIMPLEMENTED:
                raise
            self._catalog.usable = False  # an older server: CheckPlan from now on
            return self._check(account_id, kind, name, None)
        answers = _convert.plan_checks(entitled, plans)
        others = {(account_id, k, n): a for (k, n), a in answers.items() if (k, n) != (kind, name)}
        self.cache.put_filled(account_id, others, token)
        return answers[(kind, name)]

    def _plans(self) -> list[Plan] | None:
        plans = self._catalog.current()
        if plans is None and self._catalog.due():
            try:
                plans = self.list_plans(timeout=self.check_timeout)
            except BillingError:
                self._catalog.failed()
                return None
            self._catalog.fetched(plans)
        return plans

    # Catalogue and subscriptions --------------------------------------------

    def list_plans(self, *, timeout: float | None = None) -> list[Plan]:
        """The plan catalogue, lowest rank first."""
        answer = self._call("ListPlans", billing_pb2.ListPlansRequest(), timeout)
        return [_convert.plan(p) for p in answer.plans]

    def get_subscription(self, account_id: str, *, timeout: float | None = None) -> Subscription:
        """The account's current subscription; ``NotFound`` if it never had one."""
        request = billing_pb2.GetSubscriptionRequest(account_id=account_id)
        return _convert.subscription(self._call("GetSubscription", request, timeout).subscription)

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
        """Starts a Stripe Checkout Session; send the customer to ``.url``.

        Without ``idempotency_key`` one is generated for this call (and reused
        by its retries); give your own to make a repeated logical request
        (say, a resubmitted form) return the first session. ``trial_days``
        replaces the plan's own trial (0: none), up to the catalogue's
        ``max_trial_days``."""
        request = _convert.create_checkout_request(
            account_id, plan, customer_email, idempotency_key, trial_days
        )
        return _convert.checkout_session(self._call("CreateCheckout", request, timeout))

    def confirm_checkout(
        self, session_id: str, *, account_id: str | None = None, timeout: float | None = None
    ) -> Subscription:
        """Records a completed checkout now; the plan is active on return."""
        request = billing_pb2.ConfirmCheckoutRequest(
            session_id=session_id, account_id=account_id or ""
        )
        result = _convert.subscription(self._call("ConfirmCheckout", request, timeout).subscription)
        self.cache.wrote(result.account_id, result.state_version)
        return result

    def change_plan(
        self,
        account_id: str,
        plan: str,
        *,
        proration: Proration | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        """Moves the active subscription to ``plan`` (proration: server default)."""
        request = _convert.change_plan_request(account_id, plan, proration, idempotency_key)
        result = _convert.subscription(self._call("ChangePlan", request, timeout).subscription)
        self.cache.wrote(account_id, result.state_version)
        return result

    def cancel_subscription(
        self,
        account_id: str,
        *,
        timing: CancellationTiming = CancellationTiming.AT_PERIOD_END,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        """Cancels at the period's end (access until then) or immediately."""
        request = _convert.cancel_request(account_id, timing, idempotency_key)
        result = _convert.subscription(
            self._call("CancelSubscription", request, timeout).subscription
        )
        self.cache.wrote(account_id, result.state_version)
        return result

    def create_portal_session(
        self, account_id: str, *, timeout: float | None = None
    ) -> PortalSession:
        """A Stripe billing portal URL for the account."""
        request = billing_pb2.CreatePortalSessionRequest(account_id=account_id)
        return _convert.portal_session(self._call("CreatePortalSession", request, timeout))
