"""What the applier asks Stripe, and when it asks: at the shared pace, and
never inside a transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from billing_server.domain.errors import BillingError, NotFound
from billing_server.domain.event_batches import Fetched
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.event_accounts import valid_account
from billing_server.service_layer.event_outcomes import postpone, settle

log = logging.getLogger(__name__)

# A thread waits this long at most for its turn to ask Stripe.
MAX_PACE_WAIT_S = 1.0


@dataclass(frozen=True)
class Question:
    """What Stripe must be asked before the events can be applied."""

    what: str  # "subscription", "customer", "invoice" or "checkout"
    id: str
    # The events read before the question: its answer covers them.
    covers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Resolved:
    """Which subscription an invoice or a checkout session concerns."""

    subscription_id: str | None
    customer_id: str | None
    account_hint: str | None


@dataclass
class Answers:
    """What Stripe said, kept across the rounds of one subscription."""

    fetched: Fetched | None = None
    customers: dict[str, str | None] = field(default_factory=dict)
    objects: dict[str, Resolved] = field(default_factory=dict)


def ask(deps: Dependencies, subject: str, question: Question, answers: Answers) -> bool:
    """Asks Stripe; False when the events were settled instead: rejected (Stripe
    does not know the object), failed, or left for later because Stripe's pace
    is taken."""
    delay = deps.stripe_pacer.reserve(MAX_PACE_WAIT_S)
    if delay is None:
        # Other subscriptions' questions fill the next seconds: rather than
        # hold a thread, come back once they are asked. Events that arrive
        # meanwhile may make this question unnecessary.
        postpone(deps, subject, timedelta(seconds=deps.stripe_pacer.queued_s()))
        return False
    time.sleep(delay)
    try:
        _answer(deps, question, answers)
    except NotFound:
        settle(deps, subject, "rejected", reason="STRIPE_OBJECT_MISSING")
        return False
    except BillingError as exc:
        settle(deps, subject, "failed", error=f"{exc.reason}: {exc}")
        return False
    except Exception as exc:
        log.exception("asking Stripe about %s failed", subject)
        settle(deps, subject, "failed", error=f"{type(exc).__name__}: {exc}")
        return False
    return True


def _answer(deps: Dependencies, question: Question, answers: Answers) -> None:
    if question.what == "subscription":
        started = deps.clock()
        snapshot = deps.stripe.get_subscription(question.id)
        answers.fetched = Fetched(snapshot, started, question.covers)
    elif question.what == "customer":
        try:
            answers.customers[question.id] = deps.stripe.account_of_customer(question.id)
        except NotFound:
            answers.customers[question.id] = None  # deleted: no account to find there
    elif question.what == "invoice":
        invoice = deps.stripe.get_invoice(question.id)
        answers.objects[question.id] = Resolved(invoice.subscription_id, invoice.customer_id, None)
    else:
        session = deps.stripe.get_checkout_session(question.id)
        answers.objects[question.id] = Resolved(
            session.subscription.id if session.subscription else None,
            session.customer_id,
            valid_account(session.client_reference_id or session.metadata.get("account_id")),
        )
