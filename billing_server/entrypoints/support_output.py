"""`billing-admin account show` as text, with personal data masked unless
asked for: Stripe customer ids, idempotency keys and emails."""

from __future__ import annotations

import json
import re
from datetime import datetime

from billing_server.domain.entitlements import Decision
from billing_server.service_layer.support import AccountOverview

_CUSTOMER = re.compile(r"\bcus_[A-Za-z0-9]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")


def mask_customer(customer_id: str) -> str:
    return f"cus_…{customer_id[-4:]}"


def masked(text: str) -> str:
    text = _CUSTOMER.sub(lambda m: mask_customer(m.group(0)), text)
    return _EMAIL.sub("[email]", text)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _answer(decision: Decision) -> str:
    if decision.allowed:
        until = f" until {_when(decision.valid_until)}" if decision.valid_until else ""
        return f"allowed (plan {decision.plan}){until}"
    reason = decision.denial_reason.name if decision.denial_reason else "denied"
    return f"DENIED {reason} (has {decision.plan or 'no plan'}, needs {decision.required_plan})"


def _grace(overview: AccountOverview, now: datetime) -> str:
    ends = {d.grace_period_end for _, _, d in overview.answers if d.grace_period_end}
    current = overview.subscriptions[-1] if overview.subscriptions else None
    if not ends:
        status = current.status if current else "no subscription"
        return f"none (status {status})"
    end = max(ends)
    since = _when(current.past_due_since) if current else "-"
    state = "in grace" if now < end else "grace over"
    return f"{state}: past due since {since}, grace until {_when(end)}"


def text(overview: AccountOverview, now: datetime, *, show_personal: bool = False) -> str:
    hide = (lambda s: s) if show_personal else masked
    account = overview.account
    customers = [c if show_personal else mask_customer(c) for c in overview.customer_ids]
    lines = [f"Account {overview.account_id}"]
    if account is not None:
        linked = account.customer_id
        shown = (linked if show_personal else mask_customer(linked)) if linked else "none"
        lines += [
            f"  Stripe customer   {shown}",
            f"  all customers     {', '.join(customers) or 'none'}",
            f"  state version     {account.state_version}"
            f", changed {_when(account.state_updated_at)}",
            f"  created           {_when(account.created_at)}",
        ]
    else:
        lines.append("  no account row: known from its subscriptions or events only")
    lines += ["", "Subscriptions (oldest first):"]
    for sub in overview.subscriptions:
        period = f"{_when(sub.current_period_start)} -> {_when(sub.current_period_end)}"
        lines.append(
            f"  {sub.id}  {sub.plan:<10} {sub.status:<18} {period}"
            f"  cancel at period end: {'yes' if sub.cancel_at_period_end else 'no'}"
            + (f"  cancels at: {_when(sub.cancel_at)}" if sub.cancel_at else "")
            + f"  ended: {_when(sub.ended_at)}"
        )
    if not overview.subscriptions:
        lines.append("  none")
    lines += ["", "CheckPlan now:"]
    lines += [f"  {kind + ' ' + name:<26} {_answer(d)}" for kind, name, d in overview.answers]
    lines += ["", f"Grace: {_grace(overview, now)}", "", "Webhook events (latest first):"]
    for event in overview.events:
        result = event.outcome or event.reason or ""
        error = f"  error: {hide(event.last_error)}" if event.last_error else ""
        lines.append(
            f"  {_when(event.created)}  {event.id}  {event.type:<34} "
            f"{event.status:<9} {result}{error}".rstrip()
        )
    if not overview.events:
        lines.append("  none")
    lines += ["", "Audit trail (latest first):"]
    for entry in overview.audit:
        key = entry.idempotency_key if show_personal else ("[key]" if entry.idempotency_key else "")
        detail = hide(json.dumps(entry.detail, sort_keys=True)) if entry.detail else ""
        lines.append(
            f"  {_when(entry.occurred_at)}  {entry.action:<20} {entry.outcome:<20} "
            f"by {entry.actor}  {key}  {detail}".rstrip()
        )
    if not overview.audit:
        lines.append("  none")
    if not show_personal:
        lines += ["", "Personal data is masked; --show-personal shows it."]
    return "\n".join(lines) + "\n"
