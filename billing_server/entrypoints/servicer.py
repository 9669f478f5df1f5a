"""billing.v1.BillingService: translates messages to use cases and back.

Errors are not handled here: the error interceptor maps them in one place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.domain.checkouts import CheckoutSession
from billing_server.domain.entitlements import Requirement
from billing_server.domain.errors import InvalidArgument
from billing_server.domain.subscriptions import AccountState
from billing_server.entrypoints import messages
from billing_server.entrypoints.caller import current_caller
from billing_server.entrypoints.watch_servicer import Watchers
from billing_server.service_layer import (
    checkout,
    entitlement_checks,
    lifecycle,
    portal,
    queries,
)
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.idempotency import Completion
from billing_server.service_layer.mutations import Mutation, run_mutation

R = TypeVar("R", bound=Message)
T = TypeVar("T")


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, deps: Dependencies, watchers: Watchers) -> None:
        self.deps = deps
        self.watchers = watchers

    def CheckPlan(
        self, request: billing_pb2.CheckPlanRequest, context: grpc.ServicerContext
    ) -> billing_pb2.CheckPlanResponse:
        which = request.WhichOneof("requirement")
        if which == "plan":
            requirement: Requirement = entitlement_checks.plan_requirement(request.plan)
        elif which == "feature":
            requirement = entitlement_checks.feature_requirement(request.feature)
        else:
            raise InvalidArgument("set either plan or feature", field="requirement")
        return messages.checked(
            entitlement_checks.check_plan(
                self.deps, request.account_id, requirement, request.min_state_version
            )
        )

    def GetEntitlements(
        self, request: billing_pb2.GetEntitlementsRequest, context: grpc.ServicerContext
    ) -> billing_pb2.GetEntitlementsResponse:
        return messages.entitled(
            entitlement_checks.get_entitlements(
                self.deps, request.account_id, request.min_state_version
            )
        )

    def ListPlans(
        self, request: billing_pb2.ListPlansRequest, context: grpc.ServicerContext
    ) -> billing_pb2.ListPlansResponse:
        return messages.plans(queries.list_plans(self.deps))

    def GetSubscription(
        self, request: billing_pb2.GetSubscriptionRequest, context: grpc.ServicerContext
    ) -> billing_pb2.GetSubscriptionResponse:
        state = queries.get_subscription(self.deps, request.account_id)
        return billing_pb2.GetSubscriptionResponse(subscription=messages.subscription(state))

    def CreateCheckout(
        self, request: billing_pb2.CreateCheckoutRequest, context: grpc.ServicerContext
    ) -> billing_pb2.CreateCheckoutResponse:
        def create(actor: str, done: Completion[CheckoutSession] | None) -> CheckoutSession:
            return checkout.create_checkout(
                self.deps,
                account_id=request.account_id,
                plan_name=request.plan,
                customer_email=request.customer_email
                if request.HasField("customer_email")
                else None,
                idempotency_key=request.idempotency_key or None,
                actor=actor,
                trial_days=request.trial_days if request.HasField("trial_days") else None,
                done=done,
            )

        return self._mutation(
            "CreateCheckout",
            request,
            billing_pb2.CreateCheckoutResponse,
            create,
            messages.checkout,
        )

    def ConfirmCheckout(
        self, request: billing_pb2.ConfirmCheckoutRequest, context: grpc.ServicerContext
    ) -> billing_pb2.ConfirmCheckoutResponse:
        def confirm(actor: str, done: Completion[AccountState] | None) -> AccountState:
            return checkout.confirm_checkout(
                self.deps,
                session_id=request.session_id,
                account_id=request.account_id or None,
                actor=actor,
            )

        return self._mutation(
            "ConfirmCheckout",
            request,
            billing_pb2.ConfirmCheckoutResponse,
            confirm,
            _subscription_response(billing_pb2.ConfirmCheckoutResponse),
        )

    def ChangePlan(
        self, request: billing_pb2.ChangePlanRequest, context: grpc.ServicerContext
    ) -> billing_pb2.ChangePlanResponse:
        def change(actor: str, done: Completion[AccountState] | None) -> AccountState:
            return lifecycle.change_plan(
                self.deps,
                account_id=request.account_id,
                plan_name=request.plan,
                proration=messages.proration(request.proration_behavior),
                idempotency_key=request.idempotency_key or None,
                actor=actor,
                done=done,
            )

        return self._mutation(
            "ChangePlan",
            request,
            billing_pb2.ChangePlanResponse,
            change,
            _subscription_response(billing_pb2.ChangePlanResponse),
        )

    def CancelSubscription(
        self, request: billing_pb2.CancelSubscriptionRequest, context: grpc.ServicerContext
    ) -> billing_pb2.CancelSubscriptionResponse:
        def cancel(actor: str, done: Completion[AccountState] | None) -> AccountState:
            return lifecycle.cancel_subscription(
                self.deps,
                account_id=request.account_id,
                timing=messages.cancellation_timing(request.timing),
                idempotency_key=request.idempotency_key or None,
                actor=actor,
                done=done,
            )

        return self._mutation(
            "CancelSubscription",
            request,
            billing_pb2.CancelSubscriptionResponse,
            cancel,
            _subscription_response(billing_pb2.CancelSubscriptionResponse),
        )

    def CreatePortalSession(
        self, request: billing_pb2.CreatePortalSessionRequest, context: grpc.ServicerContext
    ) -> billing_pb2.CreatePortalSessionResponse:
        def create(actor: str, done: Completion[str] | None) -> str:
            return portal.create_portal_session(
                self.deps, account_id=request.account_id, actor=actor
            )

        return self._mutation(
            "CreatePortalSession",
            request,
            billing_pb2.CreatePortalSessionResponse,
            create,
            lambda url: billing_pb2.CreatePortalSessionResponse(url=url),
        )

    def WatchEntitlements(
        self, request: billing_pb2.WatchEntitlementsRequest, context: grpc.ServicerContext
    ) -> Iterator[billing_pb2.WatchEntitlementsResponse]:
        return self.watchers.stream(request, context)

    def _mutation(
        self,
        action: str,
        request: Message,
        response_type: type[R],
        run: Callable[[str, Completion[T] | None], T],
        respond: Callable[[T], R],
    ) -> R:
        actor = current_caller()
        keyed = "idempotency_key" in request.DESCRIPTOR.fields_by_name
        call = Mutation(
            action=action,
            actor=actor,
            account_id=getattr(request, "account_id", ""),
            idempotency_key=getattr(request, "idempotency_key", ""),
            fingerprint=_fingerprint(request, keyed),
        )
        response = run_mutation(
            self.deps,
            call,
            compute=lambda done: run(actor, done),
            encode=lambda result: respond(result).SerializeToString(deterministic=True),
        )
        return response_type.FromString(response)


S = TypeVar("S", bound=Message)


def _subscription_response(response_type: type[S]) -> Callable[[AccountState], S]:
    def respond(state: AccountState) -> S:
        return response_type(subscription=messages.subscription(state))

    return respond


def _fingerprint(request: Message, keyed: bool) -> str:
    """A digest of the request without its idempotency key."""
    copy = type(request)()
    copy.CopyFrom(request)
    if keyed:
        copy.ClearField("idempotency_key")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()
