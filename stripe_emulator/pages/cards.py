"""Stripe's test card numbers, and the test payment method each stands for.

A card that "succeeds now but fails at renewal" attaches fine and fails
every later charge: its payment method is one that `dunning.py` fails.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Card:
    payment_method: str | None  # None: declined now
    decline: str | None = None


TEST_CARDS = {
    "4242424242424242": Card("pm_card_visa"),
    "5555555555554444": Card("pm_card_mastercard"),
    "4000000000000341": Card("pm_card_chargeCustomerFail"),
    "4000000000009995": Card(None, "Your card has insufficient funds."),
    "4000000000000002": Card(None, "Your card was declined."),
}
NOT_A_TEST_CARD = (
    "Your card was declined. Your request was in test mode, but used a non test card. "
    "Use one of Stripe's test cards, such as 4242 4242 4242 4242."
)


def read_card(number: str) -> Card:
    """The test card typed in (spaces and dashes allowed); other numbers are declined."""
    digits = "".join(c for c in number if c not in " -")
    return TEST_CARDS.get(digits, Card(None, NOT_A_TEST_CARD))
