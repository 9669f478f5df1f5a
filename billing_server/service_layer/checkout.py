"""Starting a Stripe Checkout, and recording it once the customer has paid."""

from __future__ import annotations

from billing_server.domain.checkouts import CheckoutSession, NewCheckout
from billing_server.domain.errors import FailedPrecondition, PermissionDenied
from billing_server.domain.subscriptions import AccountState
from billing_server.service_layer import audit, validation
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.fetched_snapshots import record_fetched
from billing_server.service_layer.idempotency import Completion, stripe_key
from billing_server.service_layer.linking import link_customer


def create_checkout(
    deps: Dependencies,
    *,
    account_id: str,
    plan_name: str,
    customer_email: str | None,
    idempotency_key: str | None,
    actor: str,
    trial_days: int | None = None,
    done: Completion[CheckoutSession] | None = None,
) -> CheckoutSession:
    validation.account_id(account_id)
    plan = deps.catalog.require(validation.name(plan_name, "plan"))
    email = validation.email(customer_email)
    trial = deps.catalog.trial_days(plan, trial_days)
    if not plan.purchasable:
        raise FailedPrecondition(
            f"plan {plan.name!r} has no price and cannot be bought", reason="PLAN_NOT_PURCHASABLE"
        )

    # Read only: the account's row is written with its customer's link.
    with deps.uow() as uow:
        live = uow.subscriptions.current_for(account_id)
        if live is not None and not live.status.is_terminal:
            raise FailedPrecondition(
                f"account {account_id!r} already has a subscription ({live.status}); "
                "use ChangePlan to move it to another plan",
                reason="SUBSCRIPTION_EXISTS",
            )
        customer_id = uow.accounts.customer_id(account_id)

    if customer_id is None:
        customer_id = _create_customer(deps, account_id, email)

    session = deps.stripe.create_checkout_session(
        NewCheckout(
            customer_id=customer_id,
            price_id=deps.stripe.price_id_for(plan),
            account_id=account_id,
            plan=plan.name,
            success_url=deps.urls.success,
            cancel_url=deps.urls.cancel,
            trial_days=trial,
        ),
        idempotency_key=stripe_key(actor, "checkout", account_id, idempotency_key),
    )
    with deps.uow(write=True) as uow:
        uow.audit.record(
            audit.succeeded(
                deps,
                actor=actor,
                action="CreateCheckout",
                account_id=account_id,
                idempotency_key=idempotency_key,
                detail={"plan": plan.name, "session_id": session.id, "trial_days": str(trial)},
            )
        )
        if done is not None:
            done.finish(uow, session)
        uow.commit()
    return session


def _create_customer(deps: Dependencies, account_id: str, email: str | None) -> str:
    # One customer per account, even under concurrent first checkouts: the
    # Stripe idempotency key is derived from the account, so racing calls get
    # the same customer back, and the first link written wins.
    created = deps.stripe.create_customer(
        account_id, email, idempotency_key=f"paymentsvc:customer:{account_id}"
    )
    with deps.uow(write=True) as uow:
        linked = link_customer(uow, account_id, created, deps.clock())
        uow.commit()
    return linked


def confirm_checkout(
    deps: Dependencies, *, session_id: str, account_id: str | None, actor: str
) -> AccountState:
    validation.checkout_session_id(session_id)
    if account_id:
        validation.account_id(account_id)
    request_started = deps.clock()
    session = deps.stripe.get_checkout_session(session_id)
    owner = session.client_reference_id or session.metadata.get("account_id")
    if not owner:
        raise FailedPrecondition(
            "checkout session was not started by this service", reason="CHECKOUT_NOT_OURS"
        )
    if account_id and account_id != owner:
        raise PermissionDenied(
            "checkout session belongs to another account", reason="CHECKOUT_ACCOUNT_MISMATCH"
        )
    if session.status != "complete" or session.subscription is None:
        raise FailedPrecondition(
            f"checkout session is {session.status}, not complete", reason="CHECKOUT_NOT_COMPLETE"
        )

    entry = audit.succeeded(
        deps,
        actor=actor,
        action="ConfirmCheckout",
        account_id=owner,
        detail={"session_id": session_id, "subscription_id": session.subscription.id},
    )
    # Linking the customer releases the events that waited for it.
    _, state = record_fetched(
        deps,
        owner,
        session.subscription,
        request_started,
        link_customer_id=session.customer_id,
        audit=entry,
    )
    return state
