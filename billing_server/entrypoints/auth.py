"""Who may call what: bearer tokens checked against each method's scope."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from billing_server.domain.callers import Identity, InvalidToken, Scope
from billing_server.domain.errors import PermissionDenied, Unauthenticated

log = logging.getLogger(__name__)

# Every RPC of our services with the scope it needs. A method missing here is
# refused: a new RPC is closed until someone decides who may call it.
METHOD_SCOPES: dict[str, Scope] = {
    "/billing.v1.BillingService/CheckPlan": Scope.READ,
    "/billing.v1.BillingService/GetEntitlements": Scope.READ,
    "/billing.v1.BillingService/GetSubscription": Scope.READ,
    "/billing.v1.BillingService/ListPlans": Scope.READ,
    "/billing.v1.BillingService/WatchEntitlements": Scope.READ,
    "/billing.v1.BillingService/CreateCheckout": Scope.WRITE,
    "/billing.v1.BillingService/ConfirmCheckout": Scope.WRITE,
    "/billing.v1.BillingService/ChangePlan": Scope.WRITE,
    "/billing.v1.BillingService/CancelSubscription": Scope.WRITE,
    "/billing.v1.BillingService/CreatePortalSession": Scope.WRITE,
    "/billing.v1.WebhookIngestService/IngestEvent": Scope.INGEST,
}

CALLER_METADATA_KEY = "x-paymentsvc-caller"
UNIDENTIFIED = "unidentified"
# Deliberately vague: which part of a credential failed would help an attacker.
_REFUSED = "missing or invalid credentials"


class Verifier(Protocol):
    def verify(self, token: str) -> Identity:
        """The caller a token names; InvalidToken when it names none."""
        ...


class Authenticator:
    def __init__(self, verifier: Verifier | None) -> None:
        # None: authentication is off (development without JWT_SECRET_KEY).
        self._verifier = verifier

    @property
    def enabled(self) -> bool:
        return self._verifier is not None

    def identify(self, metadata: Iterable[tuple[str, str | bytes]], method: str) -> Identity:
        required = METHOD_SCOPES.get(method)
        if required is None:
            raise PermissionDenied(f"{method} is not open to callers")
        if self._verifier is None:
            return Identity(_declared_caller(metadata), frozenset(Scope))
        token = _bearer_token(metadata)
        if token is None:
            raise Unauthenticated(_REFUSED)
        try:
            identity = self._verifier.verify(token)
        except InvalidToken as exc:
            log.info("refused a token on %s: %s", method, exc)
            raise Unauthenticated(_REFUSED) from None
        if required not in identity.scopes:
            raise PermissionDenied(
                f"{identity.service} may not call {method.rsplit('/', 1)[-1]}",
                reason="SCOPE_MISSING",
                metadata={"required_scope": required.value},
            )
        return identity


def _bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    for key, value in metadata:
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _declared_caller(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    for key, value in metadata:
        if key == CALLER_METADATA_KEY and isinstance(value, str) and value:
            return value[:64]
    return UNIDENTIFIED
