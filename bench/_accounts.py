"""The bench accounts: their ids, and CheckPlan requests over them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from billing.v1 import billing_pb2

CHECK_PLAN = "/billing.v1.BillingService/CheckPlan"


def account_id(i: int) -> str:
    return f"acct_bench_{i:07d}"


def customer_id(i: int) -> str:
    return f"cus_bench_{i:07d}"


def subscription_id(i: int) -> str:
    return f"sub_bench_{i:07d}"


def check_plan_request(i: int, plan: str = "pro") -> bytes:
    return billing_pb2.CheckPlanRequest(account_id=account_id(i), plan=plan).SerializeToString()


@dataclass
class RandomAccounts:
    """CheckPlan for an account drawn uniformly from all `accounts`."""

    accounts: int
    seed: int
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def __call__(self, i: int) -> bytes | None:
        return check_plan_request(self._random.randrange(self.accounts))


@dataclass(frozen=True)
class AccountSequence:
    """CheckPlan for each account of a fixed sequence once, then no more."""

    indices: tuple[int, ...]

    def __call__(self, i: int) -> bytes | None:
        return check_plan_request(self.indices[i]) if i < len(self.indices) else None


def shuffled(accounts: int, seed: int) -> list[int]:
    order = list(range(accounts))
    random.Random(seed).shuffle(order)
    return order
